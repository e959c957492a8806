import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DestinationError } from "../../src/net/destination.ts";
import { proxyEnvironment, proxyFor } from "../../src/net/proxy.ts";

const env = (vars: Record<string, string>) => proxyEnvironment(vars);
const via = (url: string, vars: Record<string, string>) => proxyFor(new URL(url), env(vars));

describe("proxies from the environment, as Go reads them", () => {
  test("upper case wins over lower case; an empty value is unset", () => {
    assert.deepEqual(
      env({
        HTTP_PROXY: "http://upper:1",
        http_proxy: "http://lower:2",
        https_proxy: "http://lower:3",
        HTTPS_PROXY: "",
      }),
      { httpProxy: "http://upper:1", httpsProxy: "http://lower:3", noProxy: undefined },
    );
  });

  test("each scheme has its own proxy, with no fallback from https to HTTP_PROXY", () => {
    const vars = { HTTP_PROXY: "http://plain.proxy:3128" };
    assert.equal(via("http://api.test/", vars), "http://plain.proxy:3128/");
    assert.equal(via("https://api.test/", vars), undefined);
    assert.equal(via("https://api.test/", { HTTPS_PROXY: "https://tls.proxy:443" }), "https://tls.proxy/");
  });

  test("a proxy without a scheme is http; a bad one is an error naming the variable", () => {
    assert.equal(via("http://api.test/", { HTTP_PROXY: "proxy.corp:8080" }), "http://proxy.corp:8080/");
    assert.throws(
      () => via("https://api.test/", { HTTPS_PROXY: "socks5://proxy.corp:1080" }),
      (error: unknown) =>
        error instanceof DestinationError && /HTTPS_PROXY environment variable/.test(error.message),
    );
  });

  test("localhost and loopback literals are never proxied", () => {
    const vars = { HTTP_PROXY: "http://p:1" };
    for (const url of ["http://localhost:8080/", "http://127.0.0.1/", "http://127.1.2.3/", "http://[::1]/"]) {
      assert.equal(via(url, vars), undefined, url);
    }
    assert.equal(via("http://localhost.example/", vars), "http://p:1/");
  });

  test("NO_PROXY: domains with and without their apex, ports, IPs, CIDRs and *", () => {
    const vars = {
      HTTP_PROXY: "http://p:1",
      HTTPS_PROXY: "http://p:1",
      no_proxy:
        "corp.test, .svc.cluster.local,*.internal.test,api.test:8443,10.0.0.0/8,192.168.1.5,[2001:db8::1]:80",
    };
    const bypassed = [
      "http://corp.test/",
      "http://a.b.corp.test/",
      "http://x.svc.cluster.local/",
      "http://x.internal.test/",
      "https://api.test:8443/",
      "http://10.2.3.4/",
      "http://192.168.1.5/",
      "http://[2001:db8::1]/",
    ];
    const proxied = [
      "http://notcorp.test/",
      "http://svc.cluster.local/",
      "http://internal.test/",
      "https://api.test/",
      "http://11.0.0.1/",
      "http://192.168.1.6/",
      "https://[2001:db8::1]/",
      // CIDRs match IP literals only, not what a name resolves to.
      "http://ten.test/",
    ];
    for (const url of bypassed) assert.equal(via(url, vars), undefined, url);
    for (const url of proxied) assert.equal(via(url, vars), "http://p:1/", url);
    assert.equal(
      via("https://anything.test/", { HTTPS_PROXY: "http://p:1", NO_PROXY: "x.test,*" }),
      undefined,
    );
  });
});
