// The browser's half of the sealed deposit: each file is encrypted here, as an age stream
// to the envelope's published recipient, before a single byte leaves the bidder's machine.
// Bundled by esbuild (`make static`) from the npm package age-encryption into
// static/offres/build/chiffrement.js: nothing is fetched at run time.
import { Encrypter } from "age-encryption";
import { init } from "./depot.js";

// An age X25519 recipient: "age1" and 58 bech32 characters.
const RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;

export function checkRecipient(recipient) {
  if (!RECIPIENT.test(recipient)) {
    throw new Error(`Destinataire de chiffrement invalide : « ${recipient} ».`);
  }
  return recipient;
}

function encrypterFor(recipient) {
  const encrypter = new Encrypter();
  encrypter.addRecipient(checkRecipient(recipient));
  return encrypter;
}

// A File or Blob, encrypted as it is read: returns the ciphertext stream and its exact size,
// known before the upload starts (age's overhead is fixed for a given plaintext size).
export async function encryptFile(file, recipient) {
  const stream = await encrypterFor(recipient).encrypt(file.stream());
  return { stream, size: stream.size(file.size) };
}

// Small inputs, in memory (the test consultation's self-check).
export async function encryptBytes(bytes, recipient) {
  return encrypterFor(recipient).encrypt(bytes);
}

// The « Déposer un pli » page, when this script is loaded on it.
if (typeof document !== "undefined") {
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => init(encryptFile));
  } else {
    init(encryptFile);
  }
}
