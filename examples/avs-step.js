// A custom-code step as EigenLayer-AVS users write it: imports, inputs as globals,
// logs, and the last expression as the result.
import _ from 'lodash';
import dayjs from 'dayjs';

const values = trigger.data.values;
console.log('summing', values.length, 'values for', apContext.configVars.owner);
({
  total: _.sum(values),
  max: _.max(values),
  at: dayjs('2024-01-02T03:04:05Z').add(1, 'day').toISOString(),
})
