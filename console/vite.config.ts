/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// The build lands inside the gateway's Go package so go:embed can reach it
// (embed cannot read outside its module); the source stays out here, away
// from the Go modules, with its own toolchain.
export default defineConfig({
  base: '/console/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: '../services/gateway/internal/console/dist',
    emptyOutDir: true,
    // One small bundle: no source maps in the binary, no inlined assets
    // (the gateway's CSP allows only same-origin files).
    sourcemap: false,
    assetsInlineLimit: 0,
    target: 'es2022',
  },
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
  },
});
