// The report's entry (`tb-lr-audit --html`, `tb_lr_plugin.report()`): the
// tab's render() over the inlined data instead of the routes. No polling,
// no TensorBoard host to listen to, no request.
import { render } from './index.js';
import { inlineTransport, readInlineData } from './inline_data.js';

export async function renderReport(root = document.body, doc = document) {
  const data = readInlineData(doc) || { runs: [] };
  const app = await render({ root, transport: inlineTransport(data), pollMs: 0, host: false });
  // The data is what the report was written with: nothing to refresh.
  const refresh = root.querySelector('[data-control="refresh"]');
  if (refresh) refresh.style.display = 'none';
  const created = typeof data.created === 'string' ? data.created.replace('T', ' ').replace('+00:00', ' UTC') : '';
  app.toolbar.setStatus(created ? `Report written ${created}` : 'Report');
  return app;
}

renderReport();
