// The dashboard's URLs, without a browser: a reopened log stream resumes
// after the last log event shown instead of replaying the whole log.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { logStreamUrl } from '../../services/gateway/assets/api.js';

test('a first log stream starts from the beginning', () => {
  assert.equal(logStreamUrl('fw-1'), '/api/queue/fw-1/log/stream');
});

test('a reopened log stream resumes after the last event shown', () => {
  assert.equal(logStreamUrl('fw-1', 42), '/api/queue/fw-1/log/stream?last_event_id=42');
});
