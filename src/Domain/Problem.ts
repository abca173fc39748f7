// Errors that cross the wire: RFC 9457 problem details, one class per HTTP status we answer with.
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

/** One violation: `path` is a JSON Pointer into the request (body, or `/query/<name>`, `/header/<name>`). */
export class FieldError extends Schema.Class<FieldError>("FieldError")({
  path: Schema.String,
  message: Schema.String
}) {}

const problemFields = {
  type: Schema.String,
  title: Schema.String,
  status: Schema.Int,
  detail: Schema.String,
  errors: Schema.optional(Schema.Array(FieldError))
}

const problemAnnotations = (status: number, description: string) => ({
  [HttpApiSchema.AnnotationStatus]: status,
  [HttpApiSchema.AnnotationEncoding]: { kind: "Json", contentType: "application/problem+json" },
  description
})

export const problemType = (slug: string) => `urn:trainer-run:problem:${slug}`

type Fields = { readonly detail: string; readonly errors?: ReadonlyArray<FieldError> }
const make = (slug: string, title: string, status: number, { detail, errors }: Fields) => ({
  type: problemType(slug),
  title,
  status,
  detail,
  ...(errors !== undefined && errors.length > 0 ? { errors } : {})
})

export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  problemFields,
  problemAnnotations(400, "The request could not be read (malformed JSON, bad query parameter).")
) {
  static of(detail: string, errors?: ReadonlyArray<FieldError>) {
    return new BadRequest(make("bad-request", "Bad request", 400, { detail, ...(errors ? { errors } : {}) }))
  }
}

export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  problemFields,
  problemAnnotations(401, "A bearer token is missing or unknown.")
) {
  static of(detail: string) {
    return new Unauthorized(make("unauthorized", "Unauthorized", 401, { detail }))
  }
}

export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  problemFields,
  problemAnnotations(404, "No such resource for this tenant.")
) {
  static of(detail: string) {
    return new NotFound(make("not-found", "Not found", 404, { detail }))
  }
}

export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  problemFields,
  problemAnnotations(409, "The request conflicts with the current state.")
) {
  static of(detail: string) {
    return new Conflict(make("conflict", "Conflict", 409, { detail }))
  }
}

export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  problemFields,
  problemAnnotations(413, "The body exceeds a configured limit, named in `detail`.")
) {
  static of(detail: string) {
    return new PayloadTooLarge(make("payload-too-large", "Payload too large", 413, { detail }))
  }
}

export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()(
  "UnsupportedMediaType",
  problemFields,
  problemAnnotations(415, "The body's content type is not accepted here.")
) {
  static of(detail: string) {
    return new UnsupportedMediaType(make("unsupported-media-type", "Unsupported media type", 415, { detail }))
  }
}

export class Unprocessable extends Schema.TaggedError<Unprocessable>()(
  "Unprocessable",
  problemFields,
  problemAnnotations(422, "The request was read but breaks a rule; `errors` lists every violation.")
) {
  static of(detail: string, errors?: ReadonlyArray<FieldError>) {
    return new Unprocessable(make("validation", "Unprocessable request", 422, { detail, ...(errors ? { errors } : {}) }))
  }
  static field(path: string, message: string) {
    return Unprocessable.of(`${path || "/"}: ${message}`, [new FieldError({ path, message })])
  }
}

export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()(
  "ServiceUnavailable",
  problemFields,
  problemAnnotations(503, "A dependency (named in `detail`) is down or overloaded; retry later.")
) {
  static of(detail: string) {
    return new ServiceUnavailable(make("unavailable", "Service unavailable", 503, { detail }))
  }
}

/** Turns a Schema path into a JSON Pointer (RFC 6901). */
export const jsonPointer = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((k) => "/" + String(k).replaceAll("~", "~0").replaceAll("/", "~1")).join("")
