import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { renderTemplate, TemplateError, type TemplateVariables } from "../../activities/metrics/template.ts";

const vars: TemplateVariables = {
  name: "podinfo",
  namespace: "test",
  target: "podinfo-app",
  service: "podinfo-svc",
  ingress: undefined,
  route: "podinfo-route",
  interval: "1m",
  variables: { direction: "inbound", codes: "5.." },
};

describe("renderTemplate", () => {
  const cases: [string, string, string][] = [
    ["plain text", "up", "up"],
    [
      "every scalar",
      "{{ name }} {{namespace}} {{ target }} {{ service }} {{ route }} {{ interval }}",
      "podinfo test podinfo-app podinfo-svc podinfo-route 1m",
    ],
    ["Go's leading dot", "{{ .namespace }}/{{.target}}", "test/podinfo-app"],
    [
      "variables",
      'x{direction="{{ variables.direction }}",code=~"{{ variables.codes }}"}',
      'x{direction="inbound",code=~"5.."}',
    ],
    ["trim markers", "a  {{- namespace -}}  b", "atestb"],
    ["comments vanish", "a{{/* the window */}}b", "ab"],
    ["single braces stay", 'sum by (le) (x{a="{b}"})', 'sum by (le) (x{a="{b}"})'],
    [
      "a Flagger-style query",
      'sum(rate(http_requests_total{namespace="{{ namespace }}",pod=~"{{ target }}-[0-9a-z]+"}[{{ interval }}]))',
      'sum(rate(http_requests_total{namespace="test",pod=~"podinfo-app-[0-9a-z]+"}[1m]))',
    ],
  ];
  for (const [title, template, expected] of cases) {
    test(title, () => assert.equal(renderTemplate(template, vars), expected));
  }

  const errors: [string, string, RegExp][] = [
    ["an unknown variable", "{{ pod }}", /unsupported template expression \{\{ pod \}\} at line 1, column 1/],
    ["a pipeline", "{{ namespace | printf }}", /unsupported template expression/],
    ["a function call", '{{ printf "%s" namespace }}', /unsupported template expression/],
    ["control flow", "{{ if true }}x{{ end }}", /unsupported template expression \{\{ if true \}\}/],
    [
      "a missing templateVariables key",
      "{{ variables.nope }}",
      /templateVariables has no key nope \(it has direction, codes\)/,
    ],
    ["an unset ingress", "{{ ingress }}", /the Canary has no ingressRef/],
    ["an unclosed action", "a\n  {{ namespace", /unclosed "\{\{" at line 2, column 3/],
  ];
  for (const [title, template, message] of errors) {
    test(`rejects ${title}`, () => {
      assert.throws(
        () => renderTemplate(template, vars),
        (error: unknown) => {
          assert.ok(error instanceof TemplateError);
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  test("text without actions is returned unchanged", () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.includes("{{")),
        (text) => assert.equal(renderTemplate(text, vars), text),
      ),
    );
  });

  test("variable values are inserted verbatim, never interpreted", () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        const rendered = renderTemplate("<{{ variables.v }}>", { ...vars, variables: { v: value } });
        assert.equal(rendered, `<${value}>`);
      }),
    );
  });
});
