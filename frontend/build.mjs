// Bundles the editor island into ../static/dist/ (committed). Deterministic:
// the same sources and lock file give byte-identical files, which `make test`
// checks (scripts/check-frontend.sh).
import process from "node:process";
import { build } from "esbuild";
import { readFileSync, rmSync } from "node:fs";

// QUORUM_DIST_OUT: build elsewhere (the freshness check compares the two).
const outdir = process.env.QUORUM_DIST_OUT || new URL("../static/dist/", import.meta.url).pathname;
rmSync(outdir, { recursive: true, force: true });

// One change to @xyflow/react (B4, docs/benchmarks.md): its viewport is one
// element with `translate(x, y) scale(zoom)`, so every pan frame changes a
// scaling transform, which Chromium cannot hand to the compositor directly: it
// re-layerizes the whole canvas (500 nodes, 600 edges) on every frame. Split in
// two: an outer element that only translates (a composited layer; a pan is a
// 2D translation the compositor applies without the main thread re-layerizing
// or repainting) and the inner `.xyflow__viewport` that only scales (React Flow
// reads the zoom from its computed transform). The replaced text must match
// exactly: an upgrade that changes it fails the build instead of silently
// dropping the change.
const VIEWPORT_FROM = `            if (viewportRef.current) {
                viewportRef.current.style.transform = toTransformString(transform);
            }
        };
        applyTransform();
        return store.subscribe(applyTransform);
    }, [store]);
    return (jsx("div", { ref: viewportRef, className: "react-flow__viewport xyflow__viewport react-flow__container", style: { transform: toTransformString(initialTransform) }, children: children }));`;
const VIEWPORT_TO = `            if (viewportRef.current) {
                viewportRef.current.parentNode.style.transform = toTranslateString(transform);
                if (!prevScale || prevScale[2] !== transform[2]) viewportRef.current.style.transform = toScaleString(transform);
                prevScale = transform;
            }
        };
        let prevScale = null;
        applyTransform();
        return store.subscribe(applyTransform);
    }, [store]);
    return (jsx("div", { className: "react-flow__viewport-pan react-flow__container", style: { transform: toTranslateString(initialTransform) }, children: jsx("div", { ref: viewportRef, className: "react-flow__viewport xyflow__viewport react-flow__container", style: { transform: toScaleString(initialTransform) }, children: children }) }));`;
const VIEWPORT_HELPERS = "const toTranslateString = (t) => `translate(${t[0]}px,${t[1]}px)`;\nconst toScaleString = (t) => `scale(${t[2]})`;\n";
const patchXyflow = {
  name: "quorum-xyflow-viewport",
  setup(b) {
    b.onLoad({ filter: /@xyflow[\\/]react[\\/]dist[\\/]esm[\\/]index\.m?js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      if (!source.includes(VIEWPORT_FROM)) throw new Error("@xyflow/react's Viewport changed: review the patch in build.mjs");
      return { contents: VIEWPORT_HELPERS + source.replace(VIEWPORT_FROM, VIEWPORT_TO), loader: "js" };
    });
  },
};

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
  plugins: [patchXyflow],
});
