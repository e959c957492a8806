/**
 * Rocket.Chat incoming webhooks: text plus attachments with fields; the poster's display name is
 * `alias`, and `channel` redirects the message when the integration allows it.
 */
import { type AlertFormat, SEVERITY_COLOURS } from "./message.ts";

export const rocketFormat: AlertFormat = (message, destination) => ({
  ...(destination.channel === undefined ? {} : { channel: destination.channel }),
  ...(destination.username === undefined ? {} : { alias: destination.username }),
  text: `*${message.title}*`,
  attachments: [
    {
      color: SEVERITY_COLOURS[message.severity],
      title: message.title,
      text: message.text,
      fields: message.facts.map((fact) => ({ title: fact.name, value: fact.value, short: true })),
    },
  ],
});
