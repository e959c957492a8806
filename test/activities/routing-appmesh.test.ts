/**
 * The App Mesh routers against the App Mesh CRDs, through the operator's service account: both
 * API versions create the VirtualNodes, virtual routers and VirtualServices Flagger creates (and
 * only those, owned by the Canary) from spec.service; a weight step is one request; in both, A/B
 * testing puts header routes in front and blue/green switches and back; promotion's reconcile and
 * a second reconcile write nothing; finalize deletes what was created and gives back what was
 * taken over.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CanarySpec } from "../../src/api/canary.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import { RESOURCES, type ResourceType } from "../../src/kube/resources.ts";
import { PRIMARY_ONLY, routeTo } from "../../workflows/decisions/routes.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  operatorActivities,
  testNamespace,
} from "./kube-support.ts";
import { createdDuring, reconcileAgain } from "./routing-support.ts";

const namespace = testNamespace("routing-appmesh");

interface MeshObject {
  metadata: {
    name: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    ownerReferences?: { kind: string; name: string; uid: string }[];
  };
  spec: Record<string, unknown> & { routes?: Route[] };
}

interface Route {
  name: string;
  priority?: number;
  http?: RouteBody;
  httpRoute?: RouteBody;
}

interface RouteBody {
  match: { prefix: string; headers?: unknown[] };
  retryPolicy?: Record<string, unknown>;
  timeout?: unknown;
  action: { weightedTargets: Record<string, unknown>[] };
}

async function get(type: ResourceType, name: string): Promise<MeshObject> {
  return admin.get<MeshObject>(type, namespace, name);
}

/** Names of the objects of `type` the Canary owns. */
async function owned(type: ResourceType, canary: string): Promise<string[]> {
  const { metadata } = await admin.get<MeshObject>(RESOURCES.canaries, namespace, canary);
  const list = await admin.list<MeshObject>(type, namespace);
  return list.items
    .filter((o) => o.metadata.ownerReferences?.some((r) => r.kind === "Canary" && r.uid === metadata.uid))
    .map((o) => o.metadata.name)
    .sort();
}

/** Each route's name and weighted targets as [node, weight]. */
function weights(object: MeshObject): [string, [unknown, unknown][]][] {
  return (object.spec.routes ?? []).map((r) => [
    r.name,
    (r.http ?? r.httpRoute)?.action.weightedTargets.map((t) => [
      t.virtualNodeName ?? (t.virtualNodeRef as { name: string }).name,
      t.weight,
    ]) ?? [],
  ]);
}

async function workload(name: string): Promise<void> {
  await createAvailable(deployment(namespace, name, 1));
}

const APPMESH_TYPES = [
  RESOURCES.appMeshVirtualNodesV1beta1,
  RESOURCES.appMeshVirtualServicesV1beta1,
  RESOURCES.appMeshVirtualRouters,
];

/**
 * Versions of every App Mesh object in the namespace, by `plural/name`: unchanged versions mean
 * nothing was written.
 */
async function versions(): Promise<Record<string, string | undefined>> {
  const entries = await Promise.all(
    APPMESH_TYPES.map(async (type) =>
      (await admin.list<KubeObject>(type, namespace)).items.map((o) => [
        `${type.plural}/${o.metadata?.name}`,
        o.metadata?.resourceVersion,
      ]),
    ),
  );
  return Object.fromEntries(entries.flat());
}

/** `plural/name` of every App Mesh object the Canary owns. */
async function ownedObjects(canary: string): Promise<string[]> {
  const names = await Promise.all(
    APPMESH_TYPES.map(async (type) => (await owned(type, canary)).map((name) => `${type.plural}/${name}`)),
  );
  return names.flat().sort();
}

function meshRequests(requests: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(requests).filter(([request]) => /virtual(nodes|services|routers)$/.test(request)),
  );
}

describe("appmesh router (v1beta1)", () => {
  it("creates the nodes and VirtualServices from spec.service, one request per step, nothing written on promotion, deleted on finalize", async () => {
    await workload("web");
    const service = {
      port: 9898,
      meshName: "global",
      backends: ["backend.test"],
      retries: { attempts: 3, perTryTimeout: "1s", retryOn: "gateway-error,connection-error" },
      hosts: ["web.example.test", "www.example.test"],
      timeout: "5s",
      match: [{ uri: { prefix: "/api" } }],
      apex: { labels: { team: "a" }, annotations: { "example.test/docs": "x" } },
    };
    const target = await createCanary(
      namespace,
      "web",
      canarySpec("web", { provider: "appmesh", revertOnDeletion: true, service }),
    );
    await admin.mergePatch(RESOURCES.canaries, namespace, "web", {
      metadata: { annotations: { "appmesh.flagger.app/accesslog": "enabled" } },
    });
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);

    assert.deepEqual(await owned(RESOURCES.appMeshVirtualNodesV1beta1, "web"), [
      "web",
      "web-canary",
      "web-primary",
    ]);
    assert.deepEqual(await owned(RESOURCES.appMeshVirtualServicesV1beta1, "web"), [
      `web-canary.${namespace}`,
      `web.${namespace}`,
    ]);
    const node = await get(RESOURCES.appMeshVirtualNodesV1beta1, "web-canary");
    assert.deepEqual(node.spec, {
      meshName: "global",
      listeners: [{ portMapping: { port: 9898, protocol: "http" } }],
      serviceDiscovery: { dns: { hostName: `web-canary.${namespace}` } },
      backends: [{ virtualService: { virtualServiceName: "backend.test" } }],
      logging: { accessLog: { file: { path: "/dev/stdout" } } },
    });
    assert.equal(node.metadata.labels?.team, "a");
    assert.equal(node.metadata.annotations?.["example.test/docs"], "x");
    assert.deepEqual(
      (await get(RESOURCES.appMeshVirtualNodesV1beta1, "web")).spec.serviceDiscovery,
      { dns: { hostName: `web-primary.${namespace}` } },
      "the apex node resolves to the primary",
    );

    const apex = await get(RESOURCES.appMeshVirtualServicesV1beta1, `web.${namespace}`);
    assert.deepEqual(apex.spec, {
      meshName: "global",
      virtualRouter: { name: "web", listeners: [{ portMapping: { port: 9898, protocol: "http" } }] },
      routes: [
        {
          name: "web",
          http: {
            match: { prefix: "/api" },
            retryPolicy: {
              perRetryTimeoutMillis: 1000,
              maxRetries: 3,
              httpRetryEvents: ["gateway-error"],
              tcpRetryEvents: ["connection-error"],
            },
            action: {
              weightedTargets: [
                { virtualNodeName: "web-canary", weight: 0 },
                { virtualNodeName: "web-primary", weight: 100 },
              ],
            },
          },
        },
      ],
    });
    assert.deepEqual(apex.metadata.annotations, {
      "gateway.appmesh.k8s.aws/expose": "true",
      "gateway.appmesh.k8s.aws/domain": "web.example.test,www.example.test",
      "gateway.appmesh.k8s.aws/timeout": "5s",
      "gateway.appmesh.k8s.aws/retries": "3",
    });
    assert.deepEqual(weights(await get(RESOURCES.appMeshVirtualServicesV1beta1, `web-canary.${namespace}`)), [
      [
        "web-canary",
        [
          ["web-canary", 100],
          ["web-primary", 0],
        ],
      ],
    ]);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(30)));
    assert.deepEqual(step.requests, { "patch virtualservices": 1 }, "one request per step");
    assert.deepEqual(await activities.getRoutes(target), routeTo(30));
    assert.deepEqual(weights(await get(RESOURCES.appMeshVirtualServicesV1beta1, `web.${namespace}`)), [
      [
        "web",
        [
          ["web-canary", 30],
          ["web-primary", 70],
        ],
      ],
    ]);

    // Promotion reconciles the routing again: nothing changed, so nothing is written, weights stay.
    const before = await versions();
    const promote = await kube.counter.measure(() => activities.promote(target));
    assert.deepEqual(meshRequests(promote.requests), { "get virtualnodes": 3, "get virtualservices": 2 });
    assert.deepEqual(await versions(), before, "nothing written");
    assert.deepEqual(await activities.getRoutes(target), routeTo(30), "the split stays until routed");

    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY, "promoted: all on the primary");

    await activities.finalize(target, true);
    assert.deepEqual(await owned(RESOURCES.appMeshVirtualNodesV1beta1, "web"), []);
    assert.deepEqual(await owned(RESOURCES.appMeshVirtualServicesV1beta1, "web"), []);
  });

  it("refuses what App Mesh cannot do, naming the field", async () => {
    const refused = async (overrides: Parameters<typeof canarySpec>[1], message: RegExp) => {
      const name = `refused-${Math.random().toString(36).slice(2, 8)}`;
      const target = await createCanary(
        namespace,
        name,
        canarySpec(name, { provider: "appmesh", service: { port: 80, meshName: "global" }, ...overrides }),
      );
      await assert.rejects(operatorActivities().activities.setRoutes(target, routeTo(10)), message);
    };
    await refused({ service: { port: 80 } }, /service\.meshName is required by the appmesh provider/);
    await refused(
      { analysis: { interval: "1s", stepWeight: 10, mirror: true } },
      /analysis\.mirror is not supported by the appmesh provider/,
    );
    await refused(
      {
        analysis: {
          interval: "1s",
          stepWeight: 10,
          sessionAffinity: { cookieName: "canary" },
        },
      },
      /analysis\.sessionAffinity is not supported/,
    );
    await refused(
      { analysis: { interval: "1s", iterations: 2, match: [{ uri: { prefix: "/beta" } }] } },
      /analysis\.match\[0\]\.uri is not supported by the appmesh provider/,
    );
    await refused(
      { service: { port: 80, meshName: "global", match: [{ headers: { x: { exact: "y" } } }] } },
      /service\.match is not supported by the appmesh provider beyond one URI prefix/,
    );
    await refused(
      { service: { port: 80, meshName: "global", retries: { attempts: 2, retryOn: "5xx" } } },
      /service\.retries\.retryOn: 5xx is not a retry event/,
    );
  });
});

describe("appmesh:v1beta2 router", () => {
  it("creates VirtualNodes selecting the pods, VirtualRouters and VirtualServices from spec.service", async () => {
    await workload("shop");
    const arn = "arn:aws:appmesh:eu-west-1:123456789012:mesh/global/virtualService/payments.test";
    const target = await createCanary(
      namespace,
      "shop",
      canarySpec("shop", {
        provider: "appmesh:v1beta2",
        service: { port: 80, targetPort: 8080, timeout: "15s", backends: [arn, "backend"] },
      }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);

    assert.deepEqual(await owned(RESOURCES.appMeshVirtualNodes, "shop"), ["shop-canary", "shop-primary"]);
    assert.deepEqual(await owned(RESOURCES.appMeshVirtualRouters, "shop"), ["shop", "shop-canary"]);
    assert.deepEqual(await owned(RESOURCES.appMeshVirtualServices, "shop"), ["shop", "shop-canary"]);
    const timeout = { perRequest: { unit: "ms", value: 15000 } };
    assert.deepEqual((await get(RESOURCES.appMeshVirtualNodes, "shop-primary")).spec, {
      podSelector: { matchLabels: { app: "shop-primary" } },
      listeners: [{ portMapping: { port: 8080, protocol: "http" }, timeout: { http: timeout } }],
      serviceDiscovery: { dns: { hostname: `shop-primary.${namespace}.svc.cluster.local.` } },
      backends: [
        { virtualService: { virtualServiceARN: arn } },
        { virtualService: { virtualServiceRef: { name: "backend" } } },
      ],
    });
    assert.deepEqual(
      (await get(RESOURCES.appMeshVirtualNodes, "shop-canary")).spec.podSelector,
      { matchLabels: { app: "shop" } },
      "the canary node selects the target's pods",
    );
    assert.deepEqual((await get(RESOURCES.appMeshVirtualServices, "shop")).spec, {
      provider: { virtualRouter: { virtualRouterRef: { name: "shop" } } },
    });
    assert.deepEqual((await get(RESOURCES.appMeshVirtualServices, "shop-canary")).spec, {
      provider: { virtualRouter: { virtualRouterRef: { name: "shop-canary" } } },
    });
    const router = await get(RESOURCES.appMeshVirtualRouters, "shop");
    assert.deepEqual(router.spec.listeners, [{ portMapping: { port: 8080, protocol: "http" } }]);
    assert.deepEqual(router.spec.routes?.[0]?.httpRoute?.timeout, timeout);
  });

  it("gives back a VirtualService the user had; what the App Mesh controller sets survives a reconcile and a step", async () => {
    await workload("api");
    // awsName and meshRef as the App Mesh controller sets them: they stay through a takeover.
    const mesh = { awsName: "api_prod", meshRef: { name: "global", uid: "a1b2" } };
    const original = { ...mesh, provider: { virtualNode: { virtualNodeRef: { name: "api-v1" } } } };
    await admin.create(RESOURCES.appMeshVirtualServices, namespace, {
      metadata: { name: "api" },
      spec: original,
    });
    const target = await createCanary(
      namespace,
      "api",
      canarySpec("api", {
        provider: "appmesh:v1beta2",
        revertOnDeletion: true,
        service: { port: 9000, portName: "grpc", targetPort: "http" },
        analysis: { interval: "1s", iterations: 3 },
      }),
    );
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);
    const taken = await get(RESOURCES.appMeshVirtualServices, "api");
    assert.ok(taken.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], "its original is recorded");
    assert.deepEqual(taken.spec, {
      ...mesh,
      provider: { virtualRouter: { virtualRouterRef: { name: "api" } } },
    });
    assert.deepEqual(
      (await get(RESOURCES.appMeshVirtualRouters, "api")).spec.listeners,
      [{ portMapping: { port: 9000, protocol: "grpc" } }],
      "a named target port listens on the service port, with the protocol the port name gives",
    );

    for (const [type, name] of [
      [RESOURCES.appMeshVirtualNodes, "api-primary"],
      [RESOURCES.appMeshVirtualRouters, "api"],
    ] as const) {
      await admin.mergePatch(type, namespace, name, {
        spec: { awsName: `${name}_prod`, meshRef: mesh.meshRef },
      });
    }
    const before = await versions();
    const again = await kube.counter.measure(() => activities.promote(target));
    assert.deepEqual(meshRequests(again.requests), {
      "get virtualnodes": 2,
      "get virtualrouters": 2,
      "get virtualservices": 2,
    });
    assert.deepEqual(await versions(), before, "a second reconcile writes nothing");
    await activities.setRoutes(target, routeTo(100));
    assert.equal(
      (await get(RESOURCES.appMeshVirtualRouters, "api")).spec.awsName,
      "api_prod",
      "a step keeps what the controller set",
    );

    await activities.finalize(target, true);
    const given = await get(RESOURCES.appMeshVirtualServices, "api");
    assert.deepEqual(given.spec, original);
    assert.equal(given.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], undefined);
    assert.deepEqual(await owned(RESOURCES.appMeshVirtualNodes, "api"), []);
    assert.deepEqual(await owned(RESOURCES.appMeshVirtualRouters, "api"), []);
    assert.equal(await admin.find(RESOURCES.appMeshVirtualServices, namespace, "api-canary"), undefined);
  });
});

interface MeshVersion {
  readonly provider: "appmesh" | "appmesh:v1beta2";
  /** The object holding the apex host's routes (and so the weights) of the Canary `name`. */
  readonly router: (name: string) => readonly [ResourceType, string];
  /** The objects initialize creates for the Canary `name`, as `plural/name`. */
  readonly objects: (name: string) => string[];
  /** What a reconcile with nothing changed reads. */
  readonly reads: Readonly<Record<string, number>>;
}

const VERSIONS: readonly MeshVersion[] = [
  {
    // v1beta1: routes inside the VirtualService named after the host; a node for the apex too.
    provider: "appmesh",
    router: (name) => [RESOURCES.appMeshVirtualServicesV1beta1, `${name}.${namespace}`],
    objects: (name) => [
      `virtualnodes/${name}`,
      `virtualnodes/${name}-canary`,
      `virtualnodes/${name}-primary`,
      `virtualservices/${name}-canary.${namespace}`,
      `virtualservices/${name}.${namespace}`,
    ],
    reads: { "get canaries": 1, "get virtualnodes": 3, "get virtualservices": 2 },
  },
  {
    provider: "appmesh:v1beta2",
    router: (name) => [RESOURCES.appMeshVirtualRouters, name],
    objects: (name) => [
      `virtualnodes/${name}-canary`,
      `virtualnodes/${name}-primary`,
      `virtualrouters/${name}`,
      `virtualrouters/${name}-canary`,
      `virtualservices/${name}`,
      `virtualservices/${name}-canary`,
    ],
    // The target is read for the label its VirtualNodes select.
    reads: {
      "get canaries": 1,
      "get deployments": 1,
      "get virtualnodes": 2,
      "get virtualrouters": 2,
      "get virtualservices": 2,
    },
  },
];

describe("A/B testing and blue/green, in both App Mesh versions", () => {
  for (const version of VERSIONS) {
    const slug = version.provider === "appmesh" ? "v1beta1" : "v1beta2";
    const routerOf = async (name: string) => get(...version.router(name));
    /** The workload and its Canary on this version's provider, in the mesh "global". */
    const meshCanary = async (name: string, overrides: Partial<CanarySpec>) => {
      await workload(name);
      return createCanary(
        namespace,
        name,
        canarySpec(name, {
          provider: version.provider,
          service: { port: 80, targetPort: 8080, meshName: "global" },
          ...overrides,
        }),
      );
    };
    /** A route's destinations, canary first, with the canary at `canary` percent. */
    const split = (name: string, canary: number): [string, number][] => [
      [`${name}-canary`, canary],
      [`${name}-primary`, 100 - canary],
    ];

    it(`${version.provider}: A/B testing: one header route per condition in front of the primary's route; rollback leaves all on the primary`, async () => {
      const name = `${slug}-ab`;
      const target = await meshCanary(name, {
        analysis: {
          interval: "1s",
          iterations: 2,
          match: [
            { headers: { "x-canary": { exact: "insider" } } },
            {
              headers: [
                { name: "cookie", value: "^(.*?;)?(canary=always)(;.*)?$", type: "RegularExpression" },
              ],
            },
          ],
        },
      });
      const { kube, activities } = operatorActivities();
      await activities.initialize(target);

      const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(100)));
      assert.deepEqual(step.requests, { [`patch ${version.router(name)[0].plural}`]: 1 });
      assert.deepEqual(await activities.getRoutes(target), routeTo(100));
      const routes = (await routerOf(name)).spec.routes ?? [];
      assert.deepEqual(
        routes.map((r) => [r.name, r.priority, (r.http ?? r.httpRoute)?.match]),
        [
          [`${name}-a`, 10, { prefix: "/", headers: [{ name: "x-canary", match: { exact: "insider" } }] }],
          [
            `${name}-a-1`,
            11,
            {
              prefix: "/",
              headers: [{ name: "cookie", match: { regex: "^(.*?;)?(canary=always)(;.*)?$" } }],
            },
          ],
          [`${name}-b`, 20, { prefix: "/" }],
        ],
      );
      assert.deepEqual(weights(await routerOf(name)), [
        [`${name}-a`, split(name, 100)],
        [`${name}-a-1`, split(name, 100)],
        [`${name}-b`, split(name, 0)],
      ]);

      await activities.setRoutes(target, PRIMARY_ONLY);
      assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY, "rolled back: all on the primary");
      assert.deepEqual(weights(await routerOf(name)), [
        [`${name}-a`, split(name, 0)],
        [`${name}-a-1`, split(name, 0)],
        [`${name}-b`, split(name, 0)],
      ]);
    });

    it(`${version.provider}: blue/green switches all traffic and back; only owned objects are created; a second reconcile only reads; finalize deletes them`, async () => {
      const name = `${slug}-bg`;
      const target = await meshCanary(name, {
        revertOnDeletion: true,
        analysis: { interval: "1s", iterations: 3 },
      });
      const { kube, activities } = operatorActivities();
      const created = await createdDuring(namespace, APPMESH_TYPES, () => activities.initialize(target));
      assert.deepEqual(created, version.objects(name));
      assert.deepEqual(await ownedObjects(name), created, "all owned by the Canary");

      for (const weight of [100, 0]) {
        const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(weight)));
        assert.deepEqual(step.requests, { [`patch ${version.router(name)[0].plural}`]: 1 });
        assert.deepEqual(await activities.getRoutes(target), routeTo(weight));
        assert.deepEqual(weights(await routerOf(name)), [[name, split(name, weight)]]);
      }

      const before = await versions();
      assert.deepEqual(await reconcileAgain(kube, target), version.reads, "only reads");
      assert.deepEqual(await versions(), before, "a second reconcile writes nothing");

      await activities.finalize(target, true);
      const left = Object.keys(await versions());
      assert.deepEqual(
        created.filter((object) => left.includes(object)),
        [],
        "what it made is gone",
      );
    });
  }
});
