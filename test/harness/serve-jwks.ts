/**
 * Serves a JSON Web Key Set file at every path of 127.0.0.1 on an ephemeral port, and prints
 * `serving <url>` once it listens: the key source a Temporal frontend fetches to check the
 * signatures of bearer tokens. A process of its own, supervised with the cluster it serves.
 * The file is read on every request, so a rotated key set is served at once.
 * Usage: node serve-jwks.ts <file>
 */
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: node serve-jwks.ts <jwks-file>\n");
  process.exit(2);
}

const server = createServer((_req, res) => {
  readFile(file).then(
    (body) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(body);
    },
    (err: unknown) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(err));
    },
  );
});

server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address && typeof address === "object") {
    process.stdout.write(`serving http://127.0.0.1:${address.port}/.well-known/jwks.json\n`);
  }
});
