// Secrets at rest (§8): teacher header values are encrypted with AES-256-GCM under SECRETS_KEY
// (or a key generated once in DATA_DIR). The IV is derived from the plaintext, so the same secret
// encrypts to the same text and a content-addressed trainer document stays byte-stable on retry.
import { Effect, Option, Redacted } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { AppConfig } from "./Config.ts"

export const ENVELOPE = "enc:v1"

const keyFromDataDir = (dataDir: string) => {
  const file = NodePath.join(NodePath.resolve(dataDir), "secrets.key")
  Fs.mkdirSync(NodePath.dirname(file), { recursive: true })
  try {
    Fs.writeFileSync(file, Crypto.randomBytes(32).toString("base64"), { flag: "wx", mode: 0o600 })
  } catch {
    // already there
  }
  return Fs.readFileSync(file, "utf8").trim()
}

export const encryptWith = (key: Buffer, context: string, plaintext: string) => {
  const iv = Crypto.createHmac("sha256", key).update(`${context}\u0000${plaintext}`).digest().subarray(0, 12)
  const cipher = Crypto.createCipheriv("aes-256-gcm", key, iv)
  cipher.setAAD(Buffer.from(context))
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()])
  return `${ENVELOPE}:${iv.toString("base64url")}:${body.toString("base64url")}:${cipher.getAuthTag().toString("base64url")}`
}

export const decryptWith = (key: Buffer, context: string, envelope: string) => {
  const [a, b, iv, body, tag] = envelope.split(":")
  if (`${a}:${b}` !== ENVELOPE || !iv || body === undefined || !tag) throw new Error("not an encrypted value")
  const decipher = Crypto.createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"))
  decipher.setAAD(Buffer.from(context))
  decipher.setAuthTag(Buffer.from(tag, "base64url"))
  return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8")
}

export class Secrets extends Effect.Service<Secrets>()("Secrets", {
  effect: Effect.gen(function*() {
    const { secretsKey, dataDir } = yield* AppConfig
    const material = Option.match(secretsKey, { onNone: () => keyFromDataDir(dataDir), onSome: Redacted.value })
    const key = Crypto.createHash("sha256").update(material).digest()
    return {
      /** `context` binds the ciphertext to where it belongs (e.g. the header name). */
      encrypt: (context: string, plaintext: string) => encryptWith(key, context, plaintext),
      decrypt: (context: string, envelope: string) => decryptWith(key, context, envelope)
    } as const
  })
}) {}
