/**
 * Discord webhooks: one embed with inline fields and an integer colour. A Discord webhook is bound
 * to its channel, so `channel` has no effect; `username` overrides the webhook's name.
 */
import { type AlertFormat, SEVERITY_COLOURS } from "./message.ts";

export const discordFormat: AlertFormat = (message, destination) => ({
  ...(destination.username === undefined ? {} : { username: destination.username }),
  embeds: [
    {
      title: message.title,
      description: message.text,
      color: Number.parseInt(SEVERITY_COLOURS[message.severity].slice(1), 16),
      fields: message.facts.map((fact) => ({ name: fact.name, value: fact.value, inline: true })),
    },
  ],
});
