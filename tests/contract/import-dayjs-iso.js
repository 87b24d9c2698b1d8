// about: import dayjs from 'dayjs'; parsing a UTC timestamp and toISOString
// expect-status: ok
// expect-result: "2024-01-02T03:04:05.000Z"
import dayjs from 'dayjs';
return dayjs('2024-01-02T03:04:05Z').toISOString();
