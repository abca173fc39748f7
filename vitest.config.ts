import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Suites start real databases and servers; two cores are shared between them.
    maxWorkers: 2,
    minWorkers: 1
  }
})
