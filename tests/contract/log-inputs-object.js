// about: logging an inputs global renders it like util.inspect
// inputs: {"trigger": {"data": {"value": 10, "name": "t1"}}}
// expect-status: ok
// expect-logs: [{"level": "log", "message": "{ data: { value: 10, name: 't1' } }"}, {"level": "log", "message": "value=10"}]
console.log(trigger);
console.log('value=%d', trigger.data.value);
