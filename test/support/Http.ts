// Small helpers for talking to the test server over real HTTP.
import { HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as NodePath from "node:path"

const root = NodePath.join(import.meta.dirname, "..", "..")
export const vegaFile = (name: string) => NodePath.join(root, "node_modules", "vega-datasets", "data", name)
export const fixture = (name: string) => NodePath.join(import.meta.dirname, "..", "fixtures", name)
export const readBytes = (path: string) => new Uint8Array(Fs.readFileSync(path))

export interface Reply {
  readonly status: number
  readonly contentType: string
  readonly body: any
  readonly headers: Readonly<Record<string, string>>
}

const read = (response: HttpClientResponse.HttpClientResponse) =>
  Effect.map(response.text, (text): Reply => {
    const contentType = response.headers["content-type"] ?? ""
    let body: unknown = text
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined
    } catch {
      // not JSON
    }
    return { status: response.status, contentType, body, headers: response.headers }
  })

export const send = (request: HttpClientRequest.HttpClientRequest, token?: string) =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    client.execute(token ? HttpClientRequest.bearerToken(request, token) : request).pipe(Effect.flatMap(read), Effect.scoped)
  ).pipe(Effect.orDie)

export const get = (url: string, token?: string) => send(HttpClientRequest.get(url), token)

/** A raw upload: the bytes as the body, the name in the query. */
export const uploadRaw = (bytes: Uint8Array | string, contentType: string, name?: string, token?: string) =>
  send(
    HttpClientRequest.post("/v1/datasets").pipe(
      HttpClientRequest.setUrlParams(name === undefined ? {} : { name }),
      HttpClientRequest.bodyUint8Array(typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes, contentType)
    ),
    token
  )

export const uploadMultipart = (form: FormData, token?: string) =>
  send(HttpClientRequest.post("/v1/datasets").pipe(HttpClientRequest.bodyFormData(form)), token)

/** Every error is RFC 9457 problem+json with the spec's fields. */
export const expectProblem = (reply: Reply, status: number, pathOrText?: string) => {
  expect(reply.status, JSON.stringify(reply.body)).toBe(status)
  expect(reply.contentType).toMatch(/^application\/problem\+json/)
  expect(reply.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String) })
  if (pathOrText !== undefined) {
    const paths = (reply.body.errors ?? []).map((e: { path: string }) => e.path)
    expect([...paths, reply.body.detail].join(" ")).toContain(pathOrText)
  }
}
