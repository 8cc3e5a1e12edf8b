import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The build goes into the Python package, which serves it at /ui/ (index.html also at /).
export default defineConfig({
  base: "/ui/",
  plugins: [react()],
  build: {
    outDir: "../src/runtrack/server/ui_dist", // relative to this folder
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    // no inline <script>: the server's Content-Security-Policy allows 'self' scripts only
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8765" },
  },
});
