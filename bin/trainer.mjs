#!/usr/bin/env node
// The `trainer` command (package.json "bin"): runs src/cli.ts through tsx, so there is no build step.
import { register } from "tsx/esm/api"

register()
await import("../src/cli.ts")
