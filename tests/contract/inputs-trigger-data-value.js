// about: AVS example - inputs key trigger is a global; trigger.data.value is reachable directly
// inputs: {"trigger": {"data": {"value": 10}}}
// expect-status: ok
// expect-result: 10
return trigger.data.value;
