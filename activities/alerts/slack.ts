/** Slack incoming webhooks (or chat.postMessage with a bot token): a coloured attachment with fields. */
import { type AlertFormat, SEVERITY_COLOURS } from "./message.ts";

export const slackFormat: AlertFormat = (message, destination) => ({
  ...(destination.channel === undefined ? {} : { channel: destination.channel }),
  ...(destination.username === undefined ? {} : { username: destination.username }),
  text: `${message.title}: ${message.text}`,
  attachments: [
    {
      color: SEVERITY_COLOURS[message.severity],
      fallback: `${message.title}: ${message.text}`,
      title: message.title,
      text: message.text,
      mrkdwn_in: ["text"],
      fields: message.facts.map((fact) => ({ title: fact.name, value: fact.value, short: true })),
    },
  ],
});
