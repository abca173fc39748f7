// How the CLI speaks: aligned tables for people, JSON for scripts, the server's problem+json as
// readable lines, and exit codes a script can branch on.
import { Data } from "effect"

/** Exit codes: 0 done; 1 the job failed or was cancelled, or the audit found differences; 2 the
 * request was refused (4xx, bad flags); 3 the service could not be reached or is unavailable. */
export class CliExit extends Data.TaggedError("CliExit")<{ readonly code: number; readonly message: string }> {}

export const table = (rows: ReadonlyArray<ReadonlyArray<string | number>>, header: ReadonlyArray<string>) => {
  const all = [header, ...rows].map((r) => r.map(String))
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)))
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd()).join("\n")
}

interface ProblemLike {
  readonly status?: number
  readonly title?: string
  readonly detail?: string
  readonly errors?: ReadonlyArray<{ readonly path: string; readonly message: string }>
}

/** A problem+json answer as lines: the detail, then `path: reason` for every violation. */
export const problemLines = (p: ProblemLike) => {
  const errors = p.errors ?? []
  const status = p.status ? ` (${p.status})` : ""
  // Several violations: a short head, then one line each (the detail would repeat them all).
  const head = errors.length > 1 ? `error: the request breaks ${errors.length} rules${status}` : `error: ${p.detail ?? p.title ?? "request refused"}${status}`
  // A single violation is already the detail (`/path: reason`); several are listed one per line.
  if (errors.length === 1 && p.detail === `${errors[0]!.path}: ${errors[0]!.message}`) return head
  return [head, ...errors.map((e) => `  ${e.path || "/"}: ${e.message}`)].join("\n")
}

/** Any failure of a remote command as a CliExit with the right code and message. */
export const toCliExit = (error: unknown, json = false): CliExit => {
  const exit = describe(error)
  if (!json || error instanceof CliExit) return exit
  // For scripts: the problem as JSON on stderr.
  const e = error as { problem?: unknown; _tag?: string }
  const problem = e?._tag === "ProblemError" ? e.problem : typeof (error as ProblemLike)?.status === "number" ? error : { detail: exit.message.replace(/^error: /, "") }
  return new CliExit({ code: exit.code, message: JSON.stringify({ error: problem }) })
}

const describe = (error: unknown): CliExit => {
  if (error instanceof CliExit) return error
  const e = error as { _tag?: string; status?: number; reason?: string; message?: string; problem?: ProblemLike } & ProblemLike
  switch (e?._tag) {
    case "ServiceUnavailable":
      return new CliExit({ code: 3, message: problemLines(e) })
    case "RequestError":
      return e.reason === "InvalidUrl"
        ? new CliExit({ code: 2, message: `error: --url / TRAINER_URL is not a URL (${e.message ?? e.reason})` })
        : new CliExit({ code: 3, message: `error: cannot reach the service (${e.message ?? e.reason}); is it running? (--url, TRAINER_URL)` })
    case "Unauthorized":
      return new CliExit({ code: 2, message: `${problemLines(e)}\n  pass --token or set TRAINER_TOKEN` })
    case "ProblemError":
      return new CliExit({ code: (e.status ?? 500) >= 500 ? 3 : 2, message: problemLines({ ...(e.problem ?? {}), ...(e.status !== undefined ? { status: e.status } : {}) }) })
    case "ParseError":
      return new CliExit({ code: 2, message: `error: ${e.message ?? "the request does not match the API's schema"}` })
    case "ResponseError":
      return new CliExit({ code: 3, message: `error: unexpected answer from the service (${e.message ?? e.reason})` })
    default:
      if (typeof e?.status === "number") return new CliExit({ code: e.status >= 500 ? 3 : 2, message: problemLines(e) })
      return new CliExit({ code: 1, message: `error: ${e?.message ?? String(error)}` })
  }
}
