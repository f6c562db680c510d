import assert from 'node:assert/strict';
import test from 'node:test';

import { SNIPPET, TORCH_SNIPPET } from '../src/views.js';

test('the empty state shows how to record from Keras and from each torch entry point', () => {
  assert.match(SNIPPET, /from tb_lr_plugin\.callbacks import LearningRateLogger/);
  assert.match(TORCH_SNIPPET, /from tb_lr_plugin\.torch import LearningRateLogger\n/);
  assert.match(TORCH_SNIPPET, /LearningRateLogger\("logs\/run1", optimizer, scheduler\)/);
  assert.match(TORCH_SNIPPET, /Lightning: Trainer\(callbacks=\[tb_lr_plugin\.torch\.LearningRateMonitor\(\)\]\)/);
  assert.match(TORCH_SNIPPET, /Hugging Face: .*tb_lr_plugin\.torch\.LearningRateCallback\(\)/);
});
