// The object store port: content-addressed, write-once objects, on the filesystem (embedded
// default) or on any S3-compatible server.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException
} from "@aws-sdk/client-s3"
import { Context, Data, Effect, Layer, Option, Redacted, Stream } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import type { Readable } from "node:stream"
import { pathToFileURL } from "node:url"
import { AppConfig, type S3Settings } from "./Config.ts"

export class ObjectStoreError extends Data.TaggedError("ObjectStoreError")<{
  readonly op: string
  readonly key: string
  readonly cause: unknown
}> {
  override get message() {
    return `object store ${this.op} ${this.key} failed: ${String((this.cause as Error)?.message ?? this.cause)}`
  }
}

export type PutOutcome = "created" | "exists"

export interface ObjectStoreShape {
  readonly kind: "filesystem" | "s3"
  /** A URI naming the object for a worker (`file://…` or `s3://bucket/key`). */
  readonly uri: (key: string) => string
  readonly exists: (key: string) => Effect.Effect<boolean, ObjectStoreError>
  /** Writes once: an existing object is left as it is (`"exists"`). */
  readonly putFile: (key: string, path: string, contentType: string) => Effect.Effect<PutOutcome, ObjectStoreError>
  readonly putBytes: (key: string, bytes: Uint8Array, contentType: string) => Effect.Effect<PutOutcome, ObjectStoreError>
  readonly get: (key: string) => Stream.Stream<Uint8Array, ObjectStoreError>
  readonly delete: (key: string) => Effect.Effect<void, ObjectStoreError>
  /** Every key under a prefix (for audits and tests; not for hot paths). */
  readonly list: (prefix: string) => Effect.Effect<ReadonlyArray<string>, ObjectStoreError>
  /** Readiness: the store answers. */
  readonly check: Effect.Effect<void, ObjectStoreError>
}

export class ObjectStore extends Context.Tag("ObjectStore")<ObjectStore, ObjectStoreShape>() {}

export const contentAddressedKey = (prefix: string, sha256: string, ext: string) => `${prefix}/sha256/${sha256}.${ext}`

const fromReadable = (op: string, key: string, open: () => Readable) =>
  Stream.fromAsyncIterable(
    { [Symbol.asyncIterator]: () => open()[Symbol.asyncIterator]() } as AsyncIterable<Uint8Array>,
    (cause) => new ObjectStoreError({ op, key, cause })
  )

/** Objects as files under `root`; a write goes to a temp file and is linked into place (atomic, no overwrite). */
export const makeFilesystem = (root: string): ObjectStoreShape => {
  const base = NodePath.resolve(root)
  const pathOf = (key: string) => {
    const p = NodePath.resolve(base, key)
    if (!p.startsWith(base + NodePath.sep)) throw new Error(`key escapes the store: ${key}`)
    return p
  }
  const attempt = <A>(op: string, key: string, f: () => Promise<A>) =>
    Effect.tryPromise({ try: f, catch: (cause) => new ObjectStoreError({ op, key, cause }) })
  const place = (key: string, write: (tmp: string) => Promise<void>) =>
    attempt("put", key, async () => {
      const target = pathOf(key)
      await Fs.promises.mkdir(NodePath.dirname(target), { recursive: true })
      const tmp = `${target}.${Crypto.randomBytes(6).toString("hex")}.tmp`
      try {
        await write(tmp)
        await Fs.promises.link(tmp, target)
        return "created" as PutOutcome
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST") return "exists" as PutOutcome
        throw e
      } finally {
        await Fs.promises.rm(tmp, { force: true })
      }
    })
  return {
    kind: "filesystem",
    uri: (key) => pathToFileURL(pathOf(key)).href,
    exists: (key) => attempt("exists", key, () => Fs.promises.stat(pathOf(key)).then((st) => st.isFile(), () => false)),
    putFile: (key, path) => place(key, (tmp) => Fs.promises.copyFile(path, tmp)),
    putBytes: (key, bytes) => place(key, (tmp) => Fs.promises.writeFile(tmp, bytes)),
    get: (key) => fromReadable("get", key, () => Fs.createReadStream(pathOf(key))),
    delete: (key) => attempt("delete", key, () => Fs.promises.rm(pathOf(key), { force: true })),
    list: (prefix) =>
      attempt("list", prefix, async () => {
        const trimmed = prefix.replace(/\/+$/, "")
        const dir = trimmed === "" ? base : pathOf(trimmed)
        const entries = await Fs.promises.readdir(dir, { recursive: true, withFileTypes: true }).catch((e) =>
          (e as NodeJS.ErrnoException).code === "ENOENT" ? [] : Promise.reject(e)
        )
        return entries
          .filter((e) => e.isFile() && !e.name.endsWith(".tmp"))
          .map((e) => NodePath.relative(base, NodePath.join(e.parentPath, e.name)).split(NodePath.sep).join("/"))
          .sort()
      }),
    check: attempt("check", "", async () => {
      await Fs.promises.mkdir(base, { recursive: true })
      await Fs.promises.access(base, Fs.constants.W_OK)
    })
  }
}

const isStatus = (e: unknown, ...codes: Array<number>) =>
  e instanceof S3ServiceException && codes.includes(e.$metadata.httpStatusCode ?? 0)

export const makeS3 = (client: S3Client, settings: S3Settings): ObjectStoreShape => {
  const { bucket } = settings
  const full = (key: string) => settings.prefix + key
  const attempt = <A>(op: string, key: string, f: () => Promise<A>) =>
    Effect.tryPromise({ try: f, catch: (cause) => new ObjectStoreError({ op, key, cause }) })
  const exists = (key: string) =>
    client.send(new HeadObjectCommand({ Bucket: bucket, Key: full(key) })).then(
      () => true,
      (e) => (isStatus(e, 404) ? false : Promise.reject(e))
    )
  const put = (key: string, body: () => Uint8Array | Readable, length: number, contentType: string) =>
    attempt("put", key, async () => {
      // Content-addressed: an object already there is the same bytes (and a HEAD is cheaper than a refused upload).
      if (await exists(key)) return "exists" as PutOutcome
      try {
        await client.send(new PutObjectCommand({
          Bucket: bucket,
          Key: full(key),
          Body: body(),
          ContentLength: length,
          ContentType: contentType,
          IfNoneMatch: "*"
        }))
        return "created" as PutOutcome
      } catch (e) {
        // 412: already there; 409: a concurrent conditional write of the same key won.
        if (isStatus(e, 412, 409)) return "exists" as PutOutcome
        throw e
      }
    })
  return {
    kind: "s3",
    uri: (key) => `s3://${bucket}/${full(key)}`,
    exists: (key) => attempt("exists", key, () => exists(key)),
    putFile: (key, path, contentType) =>
      Effect.flatMap(
        attempt("put", key, () => Fs.promises.stat(path)),
        (st) => put(key, () => Fs.createReadStream(path), st.size, contentType)
      ),
    putBytes: (key, bytes, contentType) => put(key, () => bytes, bytes.byteLength, contentType),
    get: (key) =>
      Stream.unwrap(
        attempt("get", key, () => client.send(new GetObjectCommand({ Bucket: bucket, Key: full(key) }))).pipe(
          Effect.map((out) => fromReadable("get", key, () => out.Body as Readable))
        )
      ),
    delete: (key) => attempt("delete", key, () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: full(key) }))).pipe(Effect.asVoid),
    list: (prefix) =>
      attempt("list", prefix, async () => {
        const keys: Array<string> = []
        let token: string | undefined
        do {
          const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: full(prefix), ContinuationToken: token }))
          for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key.slice(settings.prefix.length))
          token = page.IsTruncated ? page.NextContinuationToken : undefined
        } while (token)
        return keys.sort()
      }),
    check: attempt("check", bucket, () => client.send(new HeadBucketCommand({ Bucket: bucket }))).pipe(Effect.asVoid)
  }
}

/** The S3 client for S3-compatible servers: checksums only when required (see NOTES.md). */
export const makeS3Client = (settings: S3Settings) =>
  new S3Client({
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    ...Option.match(settings.endpoint, { onNone: () => ({}), onSome: (endpoint) => ({ endpoint }) }),
    ...Option.match(settings.credentials, {
      onNone: () => ({}),
      onSome: (c) => ({ credentials: { accessKeyId: c.accessKeyId, secretAccessKey: Redacted.value(c.secretAccessKey) } })
    })
  })

export const ObjectStoreLive = Layer.scoped(
  ObjectStore,
  Effect.gen(function*() {
    const config = yield* AppConfig
    return yield* Option.match(config.s3, {
      onNone: () => Effect.succeed(makeFilesystem(NodePath.join(config.dataDir, "objects"))),
      onSome: (settings) =>
        Effect.map(
          Effect.acquireRelease(Effect.sync(() => makeS3Client(settings)), (c) => Effect.sync(() => c.destroy())),
          (client) => makeS3(client, settings)
        )
    })
  })
)
