// The report's entry (`tb-lr-audit --html`, `tb_lr_plugin.report()`): the
// tab's render() over the inlined data instead of the routes. No polling,
// no TensorBoard host to listen to, no request.
import { render } from './index.js';
import { inlineTransport, readInlineData } from './inline_data.js';

export function renderReport(root = document.body, doc = document) {
  const data = readInlineData(doc);
  return render({ root, transport: inlineTransport(data || { runs: [] }), pollMs: 0, host: false });
}

renderReport();
