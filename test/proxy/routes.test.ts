import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RouteTable } from '../../src/proxy/routes.ts';

describe('RouteTable', () => {
  const table = new RouteTable([
    { path: '/health', priority: 'critical' },
    { path: '/api/*/export', priority: 'sheddable' },
    { path: '/api/**', methods: ['post', 'PUT'], priority: 'high' },
    { path: '/api/', priority: 'low' },
  ]);

  it('matches a prefix on segment boundaries only', () => {
    assert.equal(table.level('GET', '/health'), 0);
    assert.equal(table.level('GET', '/health/live'), 0);
    assert.equal(table.level('GET', '/healthz'), 2);
  });

  it('matches * within one segment and ** across segments', () => {
    assert.equal(table.level('GET', '/api/users/export'), 4);
    assert.equal(table.level('GET', '/api/a/b/export'), 3);
    assert.equal(table.level('POST', '/api/a/b/export'), 1);
  });

  it('restricts a route to its methods, case-insensitively', () => {
    assert.equal(table.level('POST', '/api/users'), 1);
    assert.equal(table.level('put', '/api/users'), 1);
    assert.equal(table.level('GET', '/api/users'), 3);
  });

  it('ignores the query string and falls back to the default priority', () => {
    assert.equal(table.level('GET', '/health?verbose=1'), 0);
    assert.equal(table.level('GET', '/other'), 2);
    assert.equal(new RouteTable([], { defaultPriority: 'low' }).level('GET', '/'), 3);
  });

  it('maps priorities onto custom levels', () => {
    const t = new RouteTable([{ path: '/', priority: 'bulk' }], { priorities: ['interactive', 'bulk'] });
    assert.equal(t.level('GET', '/anything'), 1);
  });

  it('names the bad field of a bad route', () => {
    assert.throws(() => new RouteTable([{ path: '/a', priority: 'urgent' }]), {
      option: 'routes[0].priority',
    });
    assert.throws(
      () =>
        new RouteTable([
          { path: '/a', priority: 'high' },
          { path: 'b', priority: 'high' },
        ]),
      {
        option: 'routes[1].path',
      },
    );
    assert.throws(() => new RouteTable([{ path: '/a', methods: [], priority: 'high' }]), {
      option: 'routes[0].methods',
    });
    assert.throws(() => new RouteTable([{ path: '/a', priority: 'high', prio: 1 } as never]), {
      option: 'routes[0].prio',
    });
  });
});
