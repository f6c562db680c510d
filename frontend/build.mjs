// Bundles the tab into tb_lr_plugin/static/: index.js, the small module
// TensorBoard's plugin_entry.html imports (src/entry.js: it sends the first
// request, then imports app.js), and app.js, the tab itself (src/index.js,
// CSS included as text, injected at render()).
// `node build.mjs [outdir]`; `--watch` rebuilds.
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_OUTDIR = path.resolve(here, '..', 'tb_lr_plugin', 'static');

// `import css from './x.css'` gives the minified CSS as a string.
const minifiedCssAsText = {
  name: 'css-text',
  setup(b) {
    b.onLoad({ filter: /\.css$/ }, async (args) => {
      const { code } = await esbuild.transform(readFileSync(args.path, 'utf8'), { loader: 'css', minify: true });
      return { contents: code, loader: 'text' };
    });
  },
};

// output file -> source. index.js: what TensorBoard loads; app.js: the tab
// it imports; report.js: the same tab over a report's inlined data, inlined
// itself by tb_lr_plugin/html_report.py.
export const ENTRIES = { index: 'entry', app: 'index', report: 'report' };
// entry.js imports the tab at run time, from beside itself.
const APP_URL = './static/app.js';

export function options(outdir = DEFAULT_OUTDIR, output = 'index') {
  return {
    entryPoints: [path.join(here, 'src', `${ENTRIES[output]}.js`)],
    outfile: path.join(outdir, `${output}.js`),
    external: [APP_URL],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    sourcemap: false,
    legalComments: 'eof',
    plugins: [minifiedCssAsText],
    logLevel: 'warning',
  };
}

// The stylesheet render() injects (uPlot's, then the tab's), as a file:
// html_report.py inlines it in the report's <style id="tb-lr-style"> (which
// render() then leaves alone), allowed by its hash in the report's CSP.
async function writeReportCss(outdir) {
  const minified = async (file) =>
    (await esbuild.transform(readFileSync(file, 'utf8'), { loader: 'css', minify: true })).code;
  const uplot = path.join(here, 'node_modules', 'uplot', 'dist', 'uPlot.min.css');
  const text = (await minified(uplot)) + (await minified(path.join(here, 'src', 'style.css')));
  const file = path.join(outdir, 'report.css');
  writeFileSync(file, text);
  return { [file]: { bytes: Buffer.byteLength(text) } };
}

export async function build(outdir = DEFAULT_OUTDIR) {
  mkdirSync(outdir, { recursive: true });
  const outputs = Object.keys(ENTRIES);
  const results = await Promise.all(outputs.map((e) => esbuild.build({ ...options(outdir, e), metafile: true })));
  const css = await writeReportCss(outdir);
  return { metafile: { outputs: Object.assign({}, ...results.map((r) => r.metafile.outputs), css) } };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const outdir = args.find((a) => !a.startsWith('--')) || DEFAULT_OUTDIR;
  if (args.includes('--watch')) {
    for (const e of Object.keys(ENTRIES)) await (await esbuild.context(options(outdir, e))).watch();
    console.log(`watching, writing ${path.relative(process.cwd(), path.join(outdir, 'index.js'))}`);
  } else {
    const result = await build(outdir);
    for (const [file, info] of Object.entries(result.metafile.outputs)) {
      console.log(`${path.relative(process.cwd(), file)}  ${(info.bytes / 1024).toFixed(1)} KB`);
    }
  }
}
