import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { detectDelimiter } from "../src/Datasets/Profile.ts"
import { sniff } from "../src/Datasets/Upload.ts"
import { Cursor } from "../src/Domain/Page.ts"
import { closest, decodeStrict, shapeProblem } from "../src/Validation.ts"

describe("strict decoding", () => {
  const Body = Schema.Struct({ n_trials: Schema.Int, cv_folds: Schema.optional(Schema.Int), inner: Schema.Struct({ seed: Schema.Int }) })
  it.effect("reports every violation with a JSON Pointer, never coercing", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decodeStrict(Body)({ n_trials: "3", n_trial: 3, inner: { seed: 1.5, sed: 1 } }))
      expect(error.status).toBe(422)
      expect(error.errors!.map((e) => e.path).sort()).toEqual(["/inner/sed", "/inner/seed", "/n_trial", "/n_trials"])
      expect(error.errors!.find((e) => e.path === "/n_trial")!.message).toBe(`is not a known field; did you mean "n_trials"?`)
      expect(error.errors!.find((e) => e.path === "/inner/sed")!.message).toContain(`did you mean "seed"?`)
      expect(error.errors!.find((e) => e.path === "/n_trials")!.message).toContain(`actual "3"`)
    }))
  it("refuses nesting beyond 64 levels and NUL characters without recursing", () => {
    let deep: unknown = 1
    for (let i = 0; i < 200_000; i++) deep = [deep]
    expect(shapeProblem({ filter: deep })?.message).toContain("nests deeper than 64")
    expect(shapeProblem({ a: { b: ["x", "y\u0000"] } })).toEqual({ path: "/a/b/1", message: "must not contain NUL characters" })
    expect(shapeProblem({ a: [1, { b: "ok" }] })).toBeUndefined()
  })
  it("suggests only near names", () => {
    expect(closest("modles", ["models", "metrics"])).toBe("models")
    expect(closest("zzzzzz", ["models", "metrics"])).toBeUndefined()
  })
})

describe("upload sniffing", () => {
  it("takes the header line's most frequent delimiter, ignoring quoted ones", () => {
    expect(detectDelimiter("a,b,c")).toBe(",")
    expect(detectDelimiter("a;b;c")).toBe(";")
    expect(detectDelimiter("a\tb\tc")).toBe("\t")
    expect(detectDelimiter(`"x;y;z",b`)).toBe(",")
    expect(detectDelimiter("single")).toBe(",")
  })
  it("tells Parquet and binary from text", () => {
    expect(sniff(new TextEncoder().encode("PAR1xxxx"))).toBe("parquet")
    expect(sniff(new Uint8Array([1, 0, 2]))).toBe("binary")
    expect(sniff(new TextEncoder().encode("a,b\n1,2\n"))).toBe("csv")
  })
})

describe("cursors", () => {
  it("round-trip and refuse what the API did not mint", () => {
    const encoded = Schema.encodeSync(Cursor)(42)
    expect(Schema.decodeSync(Cursor)(encoded)).toBe(42)
    expect(() => Schema.decodeSync(Cursor)("!!")).toThrow()
    expect(() => Schema.decodeSync(Cursor)(Buffer.from("-3").toString("base64url"))).toThrow()
  })
})
