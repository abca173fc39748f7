// Pagination: `{items, next_cursor}` lists, `limit` and an opaque `cursor` in the query.
import { Schema } from "effect"

export const Limit = Schema.NumberFromString.pipe(
  Schema.int({ message: () => "must be a whole number" }),
  Schema.between(1, 500, { message: () => "must be between 1 and 500" })
)

/** An opaque cursor: the base64url of the last item's position. */
export const Cursor = Schema.transform(
  Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{1,24}$/, { message: () => "is not a cursor from this API" })),
  Schema.Number,
  {
    strict: true,
    decode: (s) => Number(Buffer.from(s, "base64url").toString("utf8")),
    encode: (n) => Buffer.from(String(n), "utf8").toString("base64url")
  }
).pipe(Schema.filter((n) => (Number.isSafeInteger(n) && n > 0) || "is not a cursor from this API"))

export const encodeCursor = Schema.encodeSync(Cursor)

export const PageParams = Schema.Struct({
  limit: Schema.optional(Limit),
  cursor: Schema.optional(Cursor)
})

export const Page = <A, I, R>(item: Schema.Schema<A, I, R>) =>
  Schema.Struct({ items: Schema.Array(item), next_cursor: Schema.NullOr(Schema.String) })

export const DEFAULT_LIMIT = 50
