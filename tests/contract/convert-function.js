// about: functions become null at the top level, in objects and in arrays
// expect-status: ok
// expect-result: [null, {"f": null, "g": null, "keep": 1}, [null, 2]]
const top = function named() {};
return [top, { f() {}, g: async () => 1, keep: 1 }, [() => 1, 2]];
