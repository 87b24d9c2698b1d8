// about: dayjs add and format (sandbox TZ is UTC; month add clamps to the end of February)
// expect-status: ok
// expect-result: ["2024-02-29 12:00", "Wed, Jan 3 2024 3:04 PM", 365]
import dayjs from 'dayjs';
const a = dayjs('2024-01-31T12:00:00Z').add(1, 'month').format('YYYY-MM-DD HH:mm');
const b = dayjs('2024-01-02T03:04:05Z').add(36, 'hour').format('ddd, MMM D YYYY h:mm A');
const c = dayjs('2024-12-31T23:59:59Z').diff(dayjs('2024-01-01T00:00:00Z'), 'day');
return [a, b, c];
