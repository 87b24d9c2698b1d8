// about: dayjs().format() with no pattern renders local time, which in the sandbox is UTC (+00:00)
// expect-status: ok
// expect-result: "2024-01-02T03:04:05+00:00"
import dayjs from 'dayjs';
return dayjs('2024-01-02T03:04:05Z').format();
