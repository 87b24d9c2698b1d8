// about: require('dayjs'); day of week and startOf in UTC
// expect-status: ok
// expect-result: [0, "2024-02-01T00:00:00.000Z"]
const dayjs = require('dayjs');
return [dayjs('2024-03-10T00:00:00Z').day(), dayjs('2024-02-29T10:00:00Z').startOf('month').toISOString()];
