// Reading an upload: the body (raw or a multipart `file` part) is spooled to a temp file while it
// is hashed and counted, so a 1 GB file never sits in memory and the limit is enforced as it arrives.
import { Data, Effect, Option, Stream } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"

export interface Spooled {
  readonly path: string
  readonly sha256: string
  readonly size: number
  /** The first bytes, for sniffing the format. */
  readonly head: Uint8Array
}

export class UploadTooLarge extends Data.TaggedError("UploadTooLarge")<{ readonly limit: number }> {}
export class UploadInterrupted extends Data.TaggedError("UploadInterrupted")<{ readonly cause: unknown }> {}

/** A temp file removed when the scope closes. */
export const tempFile = (ext: string) =>
  Effect.acquireRelease(
    Effect.sync(() => NodePath.join(Os.tmpdir(), `trainer-run-${Crypto.randomBytes(12).toString("hex")}.${ext}`)),
    (path) => Effect.promise(() => Fs.promises.rm(path, { force: true }))
  )

export const spool = <E>(body: Stream.Stream<Uint8Array, E>, maxBytes: number) =>
  Effect.gen(function*() {
    const path = yield* tempFile("upload")
    const handle = yield* Effect.acquireRelease(
      Effect.promise(() => Fs.promises.open(path, "w")),
      (h) => Effect.promise(() => h.close())
    )
    const hash = Crypto.createHash("sha256")
    let size = 0
    let head = new Uint8Array(0)
    yield* body.pipe(
      Stream.mapError((cause) => new UploadInterrupted({ cause })),
      Stream.runForEach((chunk) =>
        Effect.gen(function*() {
          size += chunk.byteLength
          if (size > maxBytes) return yield* Effect.fail(new UploadTooLarge({ limit: maxBytes }))
          if (head.byteLength < 4096) head = Buffer.concat([head, chunk.subarray(0, 4096 - head.byteLength)])
          hash.update(chunk)
          yield* Effect.tryPromise({ try: () => handle.write(chunk), catch: (cause) => new UploadInterrupted({ cause }) })
        })
      )
    )
    return { path, sha256: hash.digest("hex"), size, head } satisfies Spooled
  })

export type Sniffed = "csv" | "parquet" | "binary"

/** What the first bytes say the file is. */
export const sniff = (head: Uint8Array): Sniffed => {
  if (head.byteLength >= 4 && Buffer.from(head.subarray(0, 4)).toString("latin1") === "PAR1") return "parquet"
  return head.includes(0) ? "binary" : "csv"
}

const CSV_TYPES = ["text/csv", "application/csv", "text/plain", "text/tab-separated-values"]
const PARQUET_TYPES = ["application/vnd.apache.parquet", "application/x-parquet", "application/parquet"]
const GENERIC_TYPES = ["application/octet-stream"]

/** The format a content type declares; `None` for a generic type (decided by sniffing), `undefined` for a refused one. */
export const declaredFormat = (contentType: string): Option.Option<"csv" | "parquet"> | undefined => {
  const base = contentType.split(";")[0]!.trim().toLowerCase()
  if (CSV_TYPES.includes(base)) return Option.some("csv")
  if (PARQUET_TYPES.includes(base)) return Option.some("parquet")
  if (GENERIC_TYPES.includes(base) || base === "") return Option.none()
  return undefined
}

export const acceptedContentTypes = [...CSV_TYPES, ...PARQUET_TYPES, ...GENERIC_TYPES, "multipart/form-data", "application/json (an object already in the store)"]

export const extensionFormat = (fileName: string): "csv" | "parquet" | undefined => {
  const lower = fileName.toLowerCase()
  if (lower.endsWith(".parquet") || lower.endsWith(".pq")) return "parquet"
  if (lower.endsWith(".csv") || lower.endsWith(".tsv") || lower.endsWith(".txt")) return "csv"
  return undefined
}
