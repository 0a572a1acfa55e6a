// The « Déposer un pli » page: each chosen file is encrypted here to its envelope's
// published recipient, then sent to the deposit API in chunks, and the deposit is finalised.
//
// - The recipients the API announces must equal those published on the page, or nothing is
//   sent (the server cannot check addressing: age hides recipients, so the client pins).
// - Every file is announced first with its exact ciphertext size, so that the server refuses
//   a deposit above the consultation's limit before a byte is uploaded.
// - Chunks are sent one at a time; a chunk is kept in memory until the server acknowledges
//   it. After a dropped connection or a server restart, the page asks the server how many
//   bytes it holds and resumes from there: nothing already acknowledged is sent again.
// - Where the browser allows it (the origin-private file system), each file is first
//   encrypted into a copy kept in this browser, then sent from that copy: after a reload, a
//   closed tab or a crash, the page offers to resume from the server's last acknowledged
//   byte. Without it (encryption is randomised, the same ciphertext cannot be made twice),
//   a reload starts the deposit over; an unfinished deposit is never received and never counts.
// - The SHA-256 of the ciphertext is computed as it is sent and compared with the server's.
// - A new pli replaces, for its lots, the company's last pli received in time (only that one
//   is opened). Before anything is sent, the page says which received pli the new one
//   replaces and which envelope it lacks compared with it, and asks for confirmation
//   (offres/standing.py gives the received plis, json_script "depot-retained-data").
// - Whatever fails, the page says whether anything was received: a 5xx or a dropped
//   connection is retried, saying that the pli is not received yet and nothing sent is lost;
//   a refused file can be removed from the deposit (DELETE …/fichiers/<id>) and the upload
//   go on without it; an unfinished deposit can be abandoned (POST …/abandonner).
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

let encryptFile;

const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 10000];

class DepotError extends Error {}

// The network failed (no answer at all): always worth another try.
class NetworkError extends Error {}

// After this long without a single answer, the page says more firmly what to do instead
// (it keeps trying: giving up would lose what is ready to send).
const LONG_OUTAGE_MS = 15 * 60 * 1000;

const ENVELOPE_LABELS = { application: "candidature", offer: "offre" };

async function send(url, init) {
  try {
    return await fetch(url, init);
  } catch (error) {
    throw new NetworkError(error.message);
  }
}

function humanSize(bytes) {
  const units = [
    [1024 ** 3, "Go"],
    [1024 ** 2, "Mo"],
    [1024, "ko"],
  ];
  for (const [size, unit] of units) {
    if (bytes >= size) {
      return `${(bytes / size).toLocaleString("fr-FR", { maximumFractionDigits: 1 })} ${unit}`;
    }
  }
  return `${bytes} octets`;
}

function humanDuration(seconds) {
  if (!Number.isFinite(seconds)) return "inconnu";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
  if (m) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${s} s`;
}

function parisTime(date) {
  return date.toLocaleString("fr-FR", { timeZone: "Europe/Paris", dateStyle: "full", timeStyle: "medium" });
}

// What a failed deposit says: the server's own French message, or what went wrong here.
function explain(error) {
  if (error instanceof DepotError && (error.status === 401 || error.status === 403)) {
    return (
      `${error.message} Votre session a peut-être expiré : reconnectez-vous (dans un autre onglet pour ` +
      "garder cette page), puis renvoyez le pli. Rien de ce qui a été commencé ne compte tant que le pli " +
      "n'est pas validé."
    );
  }
  if (error instanceof DepotError) return error.message;
  if (error instanceof NetworkError) {
    return (
      "Le pli n'a pas pu être envoyé : le serveur est injoignable. Vérifiez votre connexion, puis renvoyez " +
      "le pli (rien de ce qui a été commencé ne compte tant que le pli n'est pas validé)."
    );
  }
  if (error?.name === "NotReadableError" || error?.name === "NotFoundError") {
    return (
      "Un des fichiers choisis ne peut plus être lu (déplacé, renommé ou modifié pendant l'envoi) : " +
      "choisissez-le à nouveau, puis renvoyez le pli."
    );
  }
  return `Le pli n'a pas pu être envoyé : ${error.message}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- The copy kept in this browser ---------------------------------------------------------

const VAULT = "plis-en-cours";

async function vaultFolder(depositId, create) {
  if (!navigator.storage?.getDirectory) return null;
  try {
    const root = await navigator.storage.getDirectory();
    const all = await root.getDirectoryHandle(VAULT, { create });
    return await all.getDirectoryHandle(depositId, { create });
  } catch {
    return null;
  }
}

async function vaultDrop(depositId) {
  try {
    const root = await navigator.storage.getDirectory();
    const all = await root.getDirectoryHandle(VAULT);
    await all.removeEntry(depositId, { recursive: true });
  } catch {
    // nothing kept, or already gone
  }
}

async function vaultRoom(bytes) {
  try {
    const { quota, usage } = await navigator.storage.estimate();
    return quota - usage > bytes * 1.1;
  } catch {
    return false;
  }
}

class Depot {
  constructor(form) {
    this.form = form;
    this.api = form.dataset.api;
    this.chunkBytes = Number(form.dataset.chunkBytes);
    this.maxBytes = Number(form.dataset.maxBytes);
    this.deadline = new Date(form.dataset.deadline);
    // The server's clock decides; correct for the difference with this machine's clock.
    this.clockOffset = new Date(form.dataset.serverNow).getTime() - Date.now();
    this.simulation = form.dataset.simulation === "1";
    this.csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    this.progress = document.getElementById("depot-progress");
    this.sending = false;
    // The deposit opened on the server and not received yet (its id), if any.
    this.current = null;
    // Per user and consultation: on a shared computer, nobody is offered another's deposit.
    this.pendingKey = `depot-en-cours-${form.dataset.user}-${form.dataset.consultation}`;
    this.retained = readRetained();
    this.offerResume();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!this.sending) this.send();
    });
    // What the new pli replaces follows the company, the lots and the files chosen.
    form.addEventListener("change", (event) => {
      if (event.target.id !== "depot-replace-confirm" && !this.sending) this.showReplacement(this.chosen());
    });
    document.addEventListener("deadline:stage", () => {
      if (!this.sending) this.showReplacement(this.chosen());
    });
    document.getElementById("depot-abandon").addEventListener("click", () => this.abandon());
    document.getElementById("depot-remove-file").addEventListener("click", () => this.removeRefused());
    document.getElementById("depot-continue").addEventListener("click", () => this.continueWithout());
    document.getElementById("depot-waiting-retry").addEventListener("click", () => this.wakeUp?.());
    window.addEventListener("beforeunload", (event) => {
      if (this.sending) event.preventDefault();
    });
    this.showReplacement(this.chosen());
  }

  serverNow() {
    return Date.now() + this.clockOffset;
  }

  // --- The form -----------------------------------------------------------------------------

  chosen() {
    const envelopes = [...this.form.querySelectorAll(".depot-envelope")].map((fieldset) => ({
      envelope: fieldset.dataset.envelope,
      recipient: fieldset.dataset.recipient,
      label: fieldset.querySelector("legend").textContent.trim(),
      files: [...fieldset.querySelector("input[type=file]").files],
    }));
    const lots = [...this.form.querySelectorAll("input[name=lots]:checked")].map((box) => Number(box.value));
    const company = this.form.elements.company.value;
    return { envelopes, lots, company: Number(company) };
  }

  check({ envelopes, lots }) {
    if (this.form.dataset.hasLots === "1" && lots.length === 0) {
      throw new DepotError("Choisissez au moins un lot.");
    }
    const files = envelopes.flatMap((e) => e.files);
    if (files.length === 0) {
      throw new DepotError("Ajoutez au moins un fichier à l'une des enveloppes.");
    }
    for (const { label, files: list } of envelopes) {
      const names = new Set();
      for (const file of list) {
        if (file.size === 0) throw new DepotError(`« ${file.name} » (${label}) est vide.`);
        if (names.has(file.name)) {
          throw new DepotError(`Deux fichiers s'appellent « ${file.name} » dans l'${label.toLowerCase()}.`);
        }
        names.add(file.name);
      }
    }
  }

  // --- What the new pli replaces ------------------------------------------------------------

  // The received plis a new pli of `company` for `lots`, holding files in the envelopes
  // counted by `counts`, would replace at the opening, each with what the new one lacks.
  // None after the deadline: a late pli is never opened, so it replaces nothing.
  replacement(company, lots, counts) {
    if (this.serverNow() >= this.deadline.getTime()) return [];
    const hasLots = this.form.dataset.hasLots === "1";
    const replaced = [];
    for (const kept of this.retained[String(company)] || []) {
      const covered = hasLots ? kept.lots.filter((n) => lots.includes(n)) : [];
      if (hasLots && covered.length === 0) continue;
      const lacks = Object.keys(ENVELOPE_LABELS).filter((e) => kept.envelopes[e] > 0 && !(counts[e] > 0));
      replaced.push({ kept, covered, stays: kept.lots.filter((n) => !covered.includes(n)), lacks });
    }
    return replaced;
  }

  // The box above the send button: which pli is replaced, what the new one lacks, and the
  // confirmation. The confirmation is cleared whenever what it confirms changes.
  showReplacement({ envelopes, lots, company }, counts = null) {
    const box = document.getElementById("depot-replace");
    if (!box) return [];
    const fileCounts = counts || Object.fromEntries(envelopes.map((e) => [e.envelope, e.files.length]));
    // Nothing to compare before a file is chosen.
    const any = Object.values(fileCounts).some((n) => n > 0);
    const replaced = any ? this.replacement(company, lots, fileCounts) : [];
    const text = document.getElementById("depot-replace-text");
    const confirm = document.getElementById("depot-replace-confirm");
    const lotsText = (numbers) => numbers.map((n) => `le lot ${n}`).join(", ");
    const lines = [];
    for (const { kept, covered, stays, lacks } of replaced) {
      const forLots = covered.length ? ` pour ${lotsText(covered)}` : "";
      let line = `Il remplacera${forLots} votre pli reçu le ${kept.received} (${kept.summary}).`;
      if (stays.length) line += ` Ce pli reste retenu pour ${lotsText(stays)}.`;
      lines.push({ text: line, strong: false });
      for (const envelope of lacks) {
        const label = ENVELOPE_LABELS[envelope];
        lines.push({
          text:
            `Ce nouveau pli ne contient pas d'enveloppe ${label} : à l'ouverture${forLots}, votre entreprise ` +
            `n'aura pas ${/^[aeiou]/.test(label) ? "d'" : "de "}${label} (celle de votre pli du ${kept.received} ne ` +
            "sera pas ouverte).",
          strong: true,
        });
      }
    }
    const signature = JSON.stringify(lines);
    if (signature !== box.dataset.signature) {
      box.dataset.signature = signature;
      confirm.checked = false;
      text.replaceChildren(
        ...lines.map(({ text: line, strong }) => {
          const paragraph = document.createElement("p");
          if (strong) {
            const bold = document.createElement("strong");
            bold.textContent = line;
            paragraph.append(bold);
          } else {
            paragraph.textContent = line;
          }
          return paragraph;
        }),
      );
    }
    const lacking = replaced.some((r) => r.lacks.length);
    box.classList.toggle("fr-alert--error", lacking);
    box.classList.toggle("fr-alert--warning", !lacking);
    box.hidden = replaced.length === 0;
    return replaced;
  }

  // Refuses to go on while a replacement is shown and not confirmed.
  checkReplacement(replaced) {
    const confirm = document.getElementById("depot-replace-confirm");
    if (replaced.length && !confirm.checked) {
      const lacking = replaced.some((r) => r.lacks.length);
      throw new DepotError(
        (lacking
          ? "Ce nouveau pli remplacerait un pli déjà reçu et ne contient pas toutes ses enveloppes. "
          : "Ce nouveau pli remplacerait un pli déjà reçu. ") +
          "Relisez ce qu'il remplace, puis cochez « J'ai compris » pour l'envoyer. Rien n'a été envoyé.",
      );
    }
  }

  // --- Messages -----------------------------------------------------------------------------

  // A failure: the message, whether the pli is received (never, here), and the actions that
  // apply (`remove`: the refused file's entry; `abandon`: the deposit is open on the server).
  showError(message, { title = "", remove = null, abandon = false, proceed = false } = {}) {
    const box = document.getElementById("depot-error");
    const heading = document.getElementById("depot-error-title");
    heading.textContent = title;
    heading.hidden = !title;
    document.getElementById("depot-error-text").textContent = message;
    this.refused = remove;
    document.getElementById("depot-remove-file").hidden = !remove;
    document.getElementById("depot-abandon").hidden = !abandon;
    document.getElementById("depot-continue").hidden = !proceed;
    for (const item of document.querySelectorAll("#depot-error-actions li")) {
      item.hidden = item.querySelector("button").hidden;
    }
    document.getElementById("depot-error-actions").hidden = !(remove || abandon || proceed);
    document.getElementById("depot-notice").hidden = true;
    box.hidden = false;
    box.scrollIntoView({ block: "center" });
    box.focus?.();
  }

  notice(message) {
    const box = document.getElementById("depot-notice");
    document.getElementById("depot-notice-text").textContent = message;
    document.getElementById("depot-error").hidden = true;
    box.hidden = false;
    box.scrollIntoView({ block: "center" });
    box.focus?.();
  }

  status(message) {
    document.getElementById("depot-status").textContent = message;
  }

  // --- The API ------------------------------------------------------------------------------

  async call(method, url, body) {
    const headers = { "X-CSRFToken": this.csrf, Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await send(url, init);
    return this.answer(response);
  }

  async answer(response) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = new DepotError(
        data?.error?.message ||
          `${response.status >= 500 ? "Le serveur est momentanément indisponible" : "Le serveur a refusé la demande"} ` +
            `(HTTP ${response.status}).`,
      );
      error.status = response.status;
      error.code = data?.error?.code;
      error.details = data?.error?.details || {};
      throw error;
    }
    return data;
  }

  // A call that survives dropped connections and restarts: network errors and 5xx answers
  // are retried, the page saying plainly that the pli is not received yet, that nothing
  // sent is lost, and what to do; « Réessayer maintenant » cuts the wait short. A refusal
  // (4xx) is final and shown as sent.
  async patiently(what, attempt) {
    const since = Date.now();
    const waiting = document.getElementById("depot-waiting");
    for (let tries = 0; ; tries += 1) {
      try {
        const result = await attempt();
        waiting.hidden = true;
        return result;
      } catch (error) {
        const transient =
          error instanceof NetworkError ||
          (error instanceof DepotError && (error.status >= 500 || error.status === 429));
        if (!transient) {
          waiting.hidden = true;
          throw error;
        }
        const delay = RETRY_DELAYS_MS[Math.min(tries, RETRY_DELAYS_MS.length - 1)];
        this.interrupted = true;
        const reason =
          error instanceof NetworkError
            ? "la connexion au serveur est coupée"
            : `le serveur a répondu « ${error.message.replace(/\.$/, "")} »`;
        const long = Date.now() - since > LONG_OUTAGE_MS;
        const late = this.serverNow() >= this.deadline.getTime();
        document.getElementById("depot-waiting-text").textContent =
          `${capitalise(what)} n'a pas abouti : ${reason}. Aucun accusé de réception n'a été délivré : tant que vous ne l'avez pas, ` +
          "le pli n'est pas reçu. Rien de ce qui a déjà été envoyé n'est perdu : la page réessaie d'elle-même " +
          `(nouvelle tentative dans ${Math.ceil(delay / 1000)} s) et reprendra là où l'envoi s'est arrêté. ` +
          "Gardez cette page ouverte. " +
          (long
            ? `Le serveur ne répond plus depuis ${Math.round((Date.now() - since) / 60000)} minutes : `
            : "Si cela dure ") +
          (late
            ? "la date limite est passée : un pli reçu maintenant le serait hors délai."
            : `et que la date limite (${parisTime(this.deadline)}) approche, prévenez l'acheteur et envoyez-lui ` +
              "une copie de sauvegarde (sur support physique) avant la date limite.");
        waiting.classList.toggle("fr-alert--error", long || late);
        waiting.classList.toggle("fr-alert--warning", !(long || late));
        waiting.hidden = false;
        this.status(
          `Connexion interrompue ou serveur indisponible : nouvelle tentative dans ${Math.ceil(delay / 1000)} s.`,
        );
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeUp = null;
        if (!navigator.onLine) {
          await new Promise((resolve) => {
            window.addEventListener("online", resolve, { once: true });
            this.wakeUp = resolve;
          });
          this.wakeUp = null;
        }
      }
    }
  }

  // --- Sending ------------------------------------------------------------------------------

  async send() {
    document.getElementById("depot-error").hidden = true;
    document.getElementById("depot-notice").hidden = true;
    let choice;
    try {
      choice = this.chosen();
      this.check(choice);
      this.checkReplacement(this.showReplacement(choice));
    } catch (error) {
      this.showError(error.message);
      return;
    }
    this.choice = choice;
    // A deposit left open by a failure is never continued once a new one starts.
    if (this.current) await this.abandonQuietly(this.current);
    await this.running(async () => {
      const deposit = await this.open(choice);
      await this.stash(deposit);
      this.uploading = true;
      await this.upload(deposit);
      await this.finalise(deposit.id);
    });
  }

  // A whole send (or resume): the form locked while it runs, unlocked with the reason if
  // it fails, and what can be done with the deposit left open on the server.
  async running(work) {
    document.getElementById("depot-error").hidden = true;
    document.getElementById("depot-notice").hidden = true;
    this.sending = true;
    this.uploading = false;
    this.form.querySelector("#depot-send").disabled = true;
    this.progress.hidden = false;
    try {
      await work();
    } catch (error) {
      this.sending = false;
      this.form.querySelector("#depot-send").disabled = false;
      this.status("");
      document.getElementById("depot-waiting").hidden = true;
      const open = this.current;
      if (open && !this.uploading) {
        // Refused before a byte of content was sent (an announcement, the recipients): the
        // next send opens a new deposit, so this one goes.
        this.current = null;
        this.progress.hidden = true;
        await this.abandonQuietly(open);
        this.showError(explain(error), { title: "Votre pli n'est pas reçu" });
        return;
      }
      const remove = error.refusedFile || null;
      if (!remove) this.progress.hidden = true;
      this.showError(
        open
          ? `${explain(error)} Aucun accusé de réception n'a été délivré. ` +
              (remove
                ? "Retirez ce fichier du pli pour envoyer les autres, ou abandonnez ce dépôt."
                : "Abandonnez ce dépôt, puis renvoyez le pli.")
          : explain(error),
        { title: open ? "Votre pli n'est pas reçu" : "", remove, abandon: Boolean(open) },
      );
    }
  }

  async finalise(depositId) {
    this.status("Validation du pli : horodatage et inscription au journal de transparence…");
    const receipt = await this.patiently("la validation du pli", () =>
      this.call("POST", `${this.api}${depositId}/valider`),
    );
    this.sending = false;
    this.current = null;
    localStorage.removeItem(this.pendingKey);
    await vaultDrop(depositId);
    this.status(`Pli reçu le ${parisTime(new Date(receipt.received_at))}. Affichage de l'accusé de réception…`);
    window.location.assign(this.form.dataset.detailUrl.replace("00000000-0000-0000-0000-000000000000", depositId));
  }

  // --- A refused file, an abandoned deposit -------------------------------------------------

  // « Retirer ce fichier »: the refused file leaves the deposit (DELETE …/fichiers/<id>);
  // the others can then be sent.
  async removeRefused() {
    const entry = this.refused;
    if (!entry || !this.current) return;
    try {
      await this.call("DELETE", `${this.api}${this.current}/fichiers/${entry.remote.id}`);
    } catch (error) {
      this.showError(`« ${entry.file.name} » n'a pas pu être retiré du pli : ${explain(error)}`, {
        title: "Votre pli n'est pas reçu",
        remove: entry,
        abandon: true,
      });
      return;
    }
    this.files = this.files.filter((f) => f !== entry);
    this.remember(this.current);
    entry.row.querySelector("span").textContent = "retiré du pli";
    entry.row.querySelector("progress").value = 0;
    if (this.files.length === 0) {
      this.showError(
        `« ${entry.file.name} » est retiré du pli, qui ne contient plus aucun fichier : abandonnez ce dépôt, puis ` +
          "renvoyez le pli avec d'autres fichiers.",
        { title: "Votre pli n'est pas reçu", abandon: true },
      );
      return;
    }
    const left = this.files.map((f) => `« ${f.file.name} »`).join(", ");
    this.showError(
      `« ${entry.file.name} » est retiré du pli. Le pli contient encore ${left} : continuez l'envoi pour le ` +
        "valider sans ce fichier, ou abandonnez ce dépôt.",
      { title: "Votre pli n'est pas encore reçu", abandon: true, proceed: true },
    );
    this.showReplacement(this.choice, this.counts());
  }

  counts() {
    const counts = {};
    for (const f of this.files) counts[f.envelope] = (counts[f.envelope] || 0) + 1;
    return counts;
  }

  // « Continuer l'envoi sans ce fichier »: the files left, then the validation; what the pli
  // replaces is confirmed again if it changed.
  async continueWithout() {
    if (this.sending || !this.current) return;
    const depositId = this.current;
    try {
      this.checkReplacement(this.showReplacement(this.choice, this.counts()));
    } catch (error) {
      this.showError(error.message, { title: "Votre pli n'est pas encore reçu", abandon: true, proceed: true });
      return;
    }
    await this.running(async () => {
      this.uploading = true;
      this.total = this.files.reduce((sum, f) => sum + f.size, 0);
      await this.upload({ id: depositId });
      await this.finalise(depositId);
    });
  }

  // « Abandonner ce dépôt »: the server drops it (POST …/abandonner), and so does this browser.
  async abandon() {
    const depositId = this.current;
    if (!depositId || this.sending) return;
    try {
      await this.call("POST", `${this.api}${depositId}/abandonner`);
    } catch (error) {
      this.showError(`Le dépôt n'a pas pu être abandonné : ${explain(error)}`, {
        title: "Votre pli n'est pas reçu",
        abandon: true,
      });
      return;
    }
    this.forget(depositId);
    this.progress.hidden = true;
    this.notice(
      "Ce dépôt est abandonné : il ne sera ni reçu ni ouvert. Vous pouvez commencer un nouveau dépôt avec les " +
        "fichiers de votre choix.",
    );
  }

  async abandonQuietly(depositId) {
    try {
      await this.call("POST", `${this.api}${depositId}/abandonner`);
    } catch {
      // It stays « envoi non terminé » and never counts.
    }
    this.forget(depositId);
  }

  forget(depositId) {
    if (this.current === depositId) this.current = null;
    localStorage.removeItem(this.pendingKey);
    vaultDrop(depositId);
    this.files = [];
  }

  // Encrypt every file into the copy kept in this browser, then remember the deposit, so
  // that a reload can resume it. Skipped (files streamed as they are encrypted) where the
  // browser has no such storage or not enough room.
  async stash(deposit) {
    const vault = (await vaultRoom(this.total)) ? await vaultFolder(deposit.id, true) : null;
    if (!vault) return;
    for (const entry of this.files) {
      this.status(`Chiffrement de « ${entry.file.name} » dans ce navigateur…`);
      entry.row.querySelector("span").textContent = "chiffrement…";
      const handle = await vault.getFileHandle(String(entry.remote.id), { create: true });
      await entry.stream.pipeTo(await handle.createWritable());
      entry.stored = await handle.getFile();
      if (entry.stored.size !== entry.size) {
        throw new DepotError(`« ${entry.file.name} » : la copie chiffrée est incomplète. Recommencez le dépôt.`);
      }
      entry.row.querySelector("span").textContent = "chiffré, en attente d'envoi";
    }
    this.started = new Date().toISOString();
    this.remember(deposit.id);
  }

  // What a reload needs to resume from the copy kept in this browser (nothing without it).
  remember(depositId) {
    if (!this.files.length || !this.files.every((f) => f.stored)) return;
    const pending = {
      deposit: depositId,
      started: this.started || new Date().toISOString(),
      company: this.choice?.company,
      lots: this.choice?.lots || [],
      files: this.files.map((f) => ({
        id: f.remote.id,
        url: f.url,
        size: f.size,
        name: f.file.name,
        envelope: f.envelope,
        label: f.label,
      })),
    };
    localStorage.setItem(this.pendingKey, JSON.stringify(pending));
  }

  // --- Resuming after a reload -------------------------------------------------------------

  offerResume() {
    let pending = null;
    try {
      pending = JSON.parse(localStorage.getItem(this.pendingKey) || "null");
    } catch {
      pending = null;
    }
    const box = document.getElementById("depot-resume");
    if (!pending || !box) return;
    const names = pending.files.map((f) => `« ${f.name} »`).join(", ");
    document.getElementById("depot-resume-text").textContent =
      `Commencé le ${parisTime(new Date(pending.started))} : ${names}. Ce pli n'est pas encore reçu : aucun ` +
      "accusé de réception n'a été délivré. Une copie chiffrée est gardée dans ce navigateur : l'envoi reprend là " +
      "où le serveur s'est arrêté, sans tout renvoyer, puis le pli est validé.";
    box.hidden = false;
    document.getElementById("depot-resume-go").addEventListener("click", () => {
      if (!this.sending) this.resume(pending);
    });
    document.getElementById("depot-resume-drop").addEventListener("click", async () => {
      if (this.sending) return;
      box.hidden = true;
      await this.abandonQuietly(pending.deposit);
      this.notice(
        "Ce dépôt est abandonné : il ne sera ni reçu ni ouvert. Vous pouvez commencer un nouveau dépôt avec les " +
          "fichiers de votre choix.",
      );
    });
  }

  async resume(pending) {
    this.current = pending.deposit;
    this.started = pending.started;
    this.choice = { company: pending.company, lots: pending.lots || [], envelopes: [] };
    await this.running(async () => {
      const vault = await vaultFolder(pending.deposit, false);
      if (!vault) throw new DepotError("La copie chiffrée de cet envoi n'est plus dans ce navigateur : recommencez le dépôt.");
      this.uploading = true;
      const list = document.getElementById("depot-files");
      list.replaceChildren();
      this.files = [];
      for (const f of pending.files) {
        let stored;
        try {
          stored = await (await vault.getFileHandle(String(f.id))).getFile();
        } catch {
          stored = null;
        }
        if (!stored || stored.size !== f.size) {
          throw new DepotError(`La copie chiffrée de « ${f.name} » manque ou est incomplète : recommencez le dépôt.`);
        }
        const row = this.row(f.label, f.name, f.size);
        list.append(row);
        this.files.push({ envelope: f.envelope, label: f.label, file: { name: f.name }, size: f.size, stored, url: f.url, remote: { id: f.id }, row, sent: 0 });
      }
      this.total = this.files.reduce((sum, f) => sum + f.size, 0);
      document.getElementById("depot-resume").hidden = true;
      await this.upload({ id: pending.deposit });
      await this.finalise(pending.deposit);
    });
  }

  row(label, name, size) {
    const row = document.createElement("li");
    row.className = "fr-mb-2w";
    const id = `depot-file-${this.files.length}`;
    row.innerHTML = `<label for="${id}"></label><br><progress id="${id}" class="depot-progress" max="1" value="0"></progress> <span></span>`;
    row.querySelector("label").textContent = `${label} — ${name} (${humanSize(size)} chiffrés)`;
    return row;
  }

  async open({ envelopes, lots, company }) {
    // Encrypt lazily (the streams are read as they are sent) but know every size first: a
    // deposit above the limit is refused before anything is opened on the server.
    this.files = [];
    const list = document.getElementById("depot-files");
    list.replaceChildren();
    for (const { envelope, recipient, label, files } of envelopes) {
      for (const file of files) {
        const plainDigest = sha256.create();
        const source = this.simulation
          ? file.stream().pipeThrough(
              new TransformStream({
                transform(chunk, controller) {
                  plainDigest.update(chunk);
                  controller.enqueue(chunk);
                },
              }),
            )
          : file.stream();
        const { stream, size } = await encryptFile({ stream: () => source, size: file.size }, recipient);
        const row = this.row(label, file.name, size);
        list.append(row);
        this.files.push({ envelope, label, file, stream, size, plainDigest, row, sent: 0 });
      }
    }
    this.total = this.files.reduce((sum, f) => sum + f.size, 0);
    if (this.total > this.maxBytes) {
      throw new DepotError(
        `Le pli chiffré ferait ${humanSize(this.total)} : la consultation accepte ${humanSize(this.maxBytes)} au ` +
          "plus. Rien n'a été envoyé.",
      );
    }
    this.status("Début du dépôt…");
    const deposit = await this.call("POST", this.api, { consultation: Number(this.form.dataset.consultation), company, lots });
    this.current = deposit.id;
    for (const { envelope, recipient } of envelopes) {
      if (deposit.recipients[envelope] !== recipient) {
        throw new DepotError(
          "Le destinataire de chiffrement annoncé par le serveur diffère de celui publié sur la page : " +
            "rien n'a été envoyé. Signalez-le à l'acheteur.",
        );
      }
    }
    const base = `${this.api}${deposit.id}`;
    for (const entry of this.files) {
      this.status(`Annonce de « ${entry.file.name} »…`);
      entry.remote = await this.call("POST", `${base}/fichiers/`, {
        envelope: entry.envelope,
        name: `${entry.file.name}.age`,
        size: entry.size,
      });
      entry.url = `${base}/fichiers/${entry.remote.id}/contenu`;
    }
    return deposit;
  }

  async upload(deposit) {
    this.startedAt = performance.now();
    this.acknowledged = 0;
    for (const entry of this.files) {
      if (!entry.done) await this.uploadFile(entry);
    }
    if (this.simulation && this.files.every((f) => f.plainDigest)) {
      // Per deposit and per file: the receipt page compares them with the platform's check.
      const digests = Object.fromEntries(
        this.files.map((f) => [String(f.remote.id), bytesToHex(f.plainDigest.digest())]),
      );
      sessionStorage.setItem(`depot-simulation-${deposit.id}`, JSON.stringify(digests));
    }
  }

  async uploadFile(entry) {
    if (entry.stored) return this.uploadStored(entry);
    const reader = entry.stream.getReader();
    const digest = sha256.create();
    const buffer = new Uint8Array(this.chunkBytes);
    let filled = 0;
    let offset = 0;
    let last = entry.remote;
    for (;;) {
      const { done, value } = await reader.read();
      let data = value || new Uint8Array(0);
      while (data.length) {
        const take = Math.min(data.length, this.chunkBytes - filled);
        buffer.set(data.subarray(0, take), filled);
        filled += take;
        data = data.subarray(take);
        if (filled === this.chunkBytes) {
          last = await this.sendChunk(entry, offset, buffer.slice(0, filled), digest);
          offset += filled;
          filled = 0;
        }
      }
      if (done) break;
    }
    if (filled) {
      last = await this.sendChunk(entry, offset, buffer.slice(0, filled), digest);
      offset += filled;
    }
    this.verified(entry, last, bytesToHex(digest.digest()));
  }

  // From the copy kept in this browser, starting where the server stands (0 for a new
  // deposit); the digest is then taken over the whole copy.
  async uploadStored(entry) {
    let last = await this.patiently(`l'envoi de « ${entry.file.name} »`, () => this.call("GET", entry.url));
    entry.sent = last.received;
    for (let offset = last.received; offset < entry.size; ) {
      const end = Math.min(offset + this.chunkBytes, entry.size);
      const chunk = new Uint8Array(await entry.stored.slice(offset, end).arrayBuffer());
      last = await this.sendChunk(entry, offset, chunk, null);
      offset = end;
    }
    const digest = sha256.create();
    for (let offset = 0; offset < entry.size; offset += this.chunkBytes) {
      digest.update(new Uint8Array(await entry.stored.slice(offset, offset + this.chunkBytes).arrayBuffer()));
    }
    this.verified(entry, last, bytesToHex(digest.digest()));
  }

  verified(entry, last, local) {
    if (!last.complete || last.sha256 !== local) {
      throw new DepotError(
        `« ${entry.file.name} » : l'empreinte calculée par le serveur ne correspond pas à celle du fichier chiffré ` +
          "envoyé. Le pli n'a pas été validé ; recommencez le dépôt.",
      );
    }
    entry.done = true;
    entry.row.querySelector("span").textContent = `reçu, SHA-256 ${local.slice(0, 16)}… vérifié`;
  }

  // One chunk, until the server holds it. Before re-sending after an interruption, ask the
  // server where it stands: the chunk may have arrived even though the answer was lost.
  async sendChunk(entry, offset, chunk, digest) {
    digest?.update(chunk);
    const end = offset + chunk.length;
    const put = async () => {
      if (this.interrupted) {
        const state = await this.call("GET", entry.url);
        this.interrupted = false;
        if (state.received === end) return state;
        if (state.received !== offset) {
          throw new DepotError(
            `« ${entry.file.name} » : le serveur a reçu ${state.received} octets, la page en attendait ` +
              `${offset}. Recommencez le dépôt.`,
          );
        }
        this.status(`Reprise de l'envoi de « ${entry.file.name} » à l'octet ${offset}.`);
      }
      const response = await send(`${entry.url}?offset=${offset}`, {
        method: "PUT",
        body: chunk,
        credentials: "same-origin",
        headers: { "X-CSRFToken": this.csrf, "Content-Type": "application/octet-stream", Accept: "application/json" },
      });
      try {
        return await this.answer(response);
      } catch (error) {
        // A chunk cut short, or an offset the server no longer expects: ask where it is.
        if (error.code === "incomplete_chunk" || error.code === "wrong_offset") {
          this.interrupted = true;
          error.status = 503;
        }
        throw error;
      }
    };
    let state;
    try {
      state = await this.patiently(`l'envoi de « ${entry.file.name} »`, put);
    } catch (error) {
      // The server refuses this file (not age, above its announced size…): it can be removed
      // from the deposit and the others sent. Not for a session, a deposit or a state problem.
      if (error instanceof DepotError && error.status >= 400 && ![401, 403, 404, 409, 429].includes(error.status)) {
        error.refusedFile = entry;
      }
      throw error;
    }
    entry.sent = end;
    this.acknowledged += chunk.length;
    this.report(entry);
    return state;
  }

  report(entry) {
    const elapsed = (performance.now() - this.startedAt) / 1000;
    const rate = this.acknowledged / Math.max(elapsed, 0.001);
    const left = (this.total - this.sentBefore(entry) - entry.sent) / rate;
    const bar = entry.row.querySelector("progress");
    bar.value = entry.sent / entry.size;
    entry.row.querySelector("span").textContent = `${Math.floor((100 * entry.sent) / entry.size)} %`;
    const done = this.sentBefore(entry) + entry.sent;
    document.getElementById("depot-overall").value = done / this.total;
    document.getElementById("depot-overall-text").textContent =
      `${Math.floor((100 * done) / this.total)} % — ${humanSize(done)} sur ${humanSize(this.total)}`;
    document.getElementById("depot-stats").textContent =
      `Débit : ${humanSize(rate)}/s — temps restant estimé : ${humanDuration(left)}`;
    this.status(`Envoi de « ${entry.file.name} » : ${Math.floor((100 * entry.sent) / entry.size)} %.`);
    const finish = new Date(this.serverNow() + left * 1000);
    const warning = document.getElementById("depot-deadline-warning");
    if (finish > this.deadline && done < this.total) {
      document.getElementById("depot-deadline-warning-text").textContent =
        `À ce débit, l'envoi se terminerait vers ${parisTime(finish)}, après la date limite ` +
        `(${parisTime(this.deadline)}) : votre pli serait reçu hors délai et ne serait jamais ouvert.`;
      warning.hidden = false;
    } else {
      warning.hidden = true;
    }
  }

  sentBefore(entry) {
    let sum = 0;
    for (const f of this.files) {
      if (f === entry) break;
      sum += f.size;
    }
    return sum;
  }
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// The company's received plis that the opening would read today, per company id
// (offres/standing.py, in the page as JSON).
function readRetained() {
  const data = document.getElementById("depot-retained-data");
  try {
    return data ? JSON.parse(data.textContent) : {};
  } catch {
    return {};
  }
}

// The test consultation's report: the SHA-256 of each file as chosen in this browser (kept
// in the tab's sessionStorage by the upload, never sent) against the platform's decryption.
function compareSimulation(table) {
  let chosen = {};
  try {
    chosen = JSON.parse(sessionStorage.getItem(`depot-simulation-${table.dataset.deposit}`) || "{}");
  } catch {
    chosen = {};
  }
  for (const row of table.querySelectorAll("tbody tr")) {
    const cell = row.querySelector(".simulation-comparison");
    const mine = chosen[row.dataset.file];
    if (!mine) {
      cell.textContent = "Non disponible : le dépôt a été fait dans un autre onglet ou navigateur.";
    } else if (!row.dataset.sha256) {
      cell.textContent = "Fichier illisible pour la plateforme : recommencez le test.";
    } else if (mine === row.dataset.sha256) {
      cell.textContent = "Identique au fichier choisi : reçu intact.";
    } else {
      cell.textContent = "DIFFÉRENT du fichier choisi : recommencez le test, et signalez-le s'il se répète.";
    }
  }
}

// `encrypt(file, recipient)` is chiffrement.js's encryptFile, handed over by the entry point.
export function init(encrypt) {
  encryptFile = encrypt;
  const form = document.getElementById("depot");
  if (form) new Depot(form);
  const report = document.getElementById("simulation-report");
  if (report) compareSimulation(report);
}
