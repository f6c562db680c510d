// The module TensorBoard's plugin_entry.html imports (built as
// static/index.js). It is small, so that the first data request leaves from
// its first line: the `view` of the saved selection (or of the first runs),
// with the listing, is on its way while the tab's code (static/app.js, built
// from index.js) is still being fetched and compiled. The app adopts that
// request when it asks for the same URL (data.adoptStarted).

import { firstViewUrl } from './first_view.js';
import { loadState } from './storage.js';

const started = startFirst();
const app = import('./static/app.js');

function startFirst() {
  try {
    const url = firstViewUrl(loadState());
    if (!url) return null;
    const response = fetch(url, { headers: { Accept: 'application/json' } });
    response.catch(() => {}); // the app sees the failure when it takes the answer
    return { url, response };
  } catch {
    return null;
  }
}

/** TensorBoard's entry point: the tab's render(), with the first request already sent. */
export async function render(options = {}) {
  const tab = await app;
  const own = !options.fetch && !options.transport;
  return tab.render({ ...options, started: own ? started : null });
}
