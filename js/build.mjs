// Bundles js/src into ionpy_widgets/static/ionpy.js (one ES module, no CDN imports) with esbuild.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

const outdir = new URL("../ionpy_widgets/static/", import.meta.url).pathname;
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: ["src/index.ts"],
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: process.env.IONPY_JS_DEV ? false : true,
  sourcemap: false,
  outfile: `${outdir}ionpy.js`,
  logLevel: "warning",
});
copyFileSync("src/ionpy.css", `${outdir}ionpy.css`);
