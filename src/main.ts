// Entry point: the service, configured from the environment.
import { NodeRuntime } from "@effect/platform-node"
import { serve } from "./Serve.ts"

serve.pipe(NodeRuntime.runMain({ disablePrettyLogger: true }))
