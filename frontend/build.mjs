// Bundles the editor island into ../static/dist/ (committed). Deterministic:
// the same sources and lock file give byte-identical files, which `make test`
// checks (scripts/check-frontend.sh).
import process from "node:process";
import { build } from "esbuild";
import { rmSync } from "node:fs";

// QUORUM_DIST_OUT: build elsewhere (the freshness check compares the two).
const outdir = process.env.QUORUM_DIST_OUT || new URL("../static/dist/", import.meta.url).pathname;
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: { editor: "src/main.jsx" },
  bundle: true,
  splitting: true, // elkjs (auto-layout) is loaded on first use only
  format: "esm",
  minify: true,
  target: ["es2020"],
  outdir,
  chunkNames: "[name]-[hash]",
  jsx: "automatic",
  legalComments: "linked",
  define: { "process.env.NODE_ENV": '"production"' },
  loader: { ".js": "jsx" },
  logLevel: "warning",
});
