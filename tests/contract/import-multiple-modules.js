// about: several import declarations of different allowed modules in one program
// inputs: {"trigger": {"data": {"items": [{"id": 2}, {"id": 1}]}}}
// expect-status: ok
// expect-result-has: {"ids": [1, 2], "when": "2024-06-01", "uuidOk": true}
import _ from 'lodash';
import dayjs from 'dayjs';
import { v4 as uuidv4, validate } from 'uuid';
const ids = _.map(_.sortBy(trigger.data.items, 'id'), 'id');
return {
  ids,
  when: dayjs('2024-05-31T00:00:00Z').add(1, 'day').format('YYYY-MM-DD'),
  uuidOk: validate(uuidv4()),
};
