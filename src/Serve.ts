// The service as one runnable layer: configuration from the environment, logfmt logs at LOG_LEVEL,
// the HTTP server and everything behind it. `main.ts` and `trainer serve` both launch it.
import { Effect, Layer, Logger, LogLevel } from "effect"
import { AppConfig } from "./Config.ts"
import { ServerLive } from "./Http.ts"

const LoggingLive = Layer.unwrapEffect(
  Effect.map(AppConfig, ({ logLevel }) => Layer.merge(Logger.logFmt, Logger.minimumLogLevel(LogLevel.fromLiteral(logLevel))))
)

/** Runs the service until interrupted (SIGTERM/SIGINT: graceful shutdown). */
export const serve = ServerLive.pipe(Layer.provide(LoggingLive), Layer.provide(AppConfig.layer), Layer.launch)
