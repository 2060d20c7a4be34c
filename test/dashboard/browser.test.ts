import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createDashboard } from '../../src/dashboard/index.ts';
import { createLimiter } from '../../src/limiter/limiter.ts';
import { aimd } from '../../src/limits/aimd.ts';
import { createBreaker } from '../../src/policies/breaker.ts';

// Debian's chromium package (what CI installs), driven by playwright-core: no browser download.
const executablePath = process.env['CHROMIUM_PATH'] || '/usr/bin/chromium';
const screenshot = fileURLToPath(new URL('../../.cache/screenshots/dashboard.png', import.meta.url));

// The page's globals, as far as the functions the tests run in it use them: the tests compile without the
// DOM library.
interface PageElement {
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
}
declare const document: {
  readonly body: PageElement;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
};
interface PageCanvas {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): {
    getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
  };
}

function chromiumMissing(): string | false {
  if (existsSync(executablePath)) return false;
  const message = `Chromium is not installed at ${executablePath} (apt-get install chromium, or set CHROMIUM_PATH)`;
  if (process.env['CI'] === 'true')
    throw new Error(`${message}; under CI=true this fails instead of skipping`);
  return message;
}

describe('the dashboard in headless Chromium', { skip: chromiumMissing(), timeout: 20_000 }, () => {
  it('loads with no errors and no request elsewhere, draws charts, moves live values and shows decisions', async () => {
    const dashboard = createDashboard({
      title: 'sluice — browser test',
      sampleEvery: 250,
      changeInterval: 250,
    });
    const limiter = createLimiter({
      name: 'api',
      limit: aimd({ initial: 4, max: 40 }),
      queue: { size: 8, timeout: 40 },
    });
    const breaker = createBreaker({ name: 'payments', consecutiveFailures: 2 });
    dashboard.track(limiter);
    dashboard.track(breaker);
    // A little load: callers holding permits 2-20 ms, one call in ten an overload the limit backs off on.
    let running = true;
    const caller = async (): Promise<void> => {
      while (running) {
        try {
          const permit = await limiter.acquire();
          await delay(2 + Math.random() * 18);
          if (Math.random() < 0.1) permit.dropped();
          else permit.success();
        } catch {
          await delay(5); // shed: try again shortly
        }
      }
    };
    const callers = Array.from({ length: 10 }, caller);
    for (let i = 0; i < 2; i++)
      await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});

    const { url } = await dashboard.listen();
    const browser = await chromium.launch({
      executablePath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const errors: string[] = [];
    const elsewhere: string[] = [];
    const failed: string[] = [];
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('request', (r) => {
        if (new URL(r.url()).hostname !== '127.0.0.1') elsewhere.push(r.url());
      });
      page.on('requestfailed', (r) => failed.push(`${r.url()}: ${r.failure()?.errorText}`));
      await page.goto(url);
      await page.waitForSelector('#status.live', { timeout: 5000 });

      // Charts draw: the limiter's concurrency chart has plotted points, and its canvas has pixels on.
      const concurrency = 'figure[data-chart$=".concurrency"]';
      await page.waitForFunction(
        (sel) => Number(document.querySelector(`${sel} canvas`)?.getAttribute('data-points')) > 3,
        concurrency,
        { timeout: 5000 },
      );
      const inked = await page.$eval(`${concurrency} canvas`, (c) => {
        const canvas = c as unknown as PageCanvas;
        const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) n++;
        return n;
      });
      assert.ok(inked > 500, `pixels drawn: ${inked}`);
      assert.equal(await page.locator('figure').count(), 6); // 3 limiter charts, 3 breaker charts

      // Live values move: the current values shown change as samples arrive.
      const values = () =>
        page.$$eval(`${concurrency} .value`, (els) => els.map((e) => e.textContent).join(' '));
      const before = await values();
      assert.match(before, /\d/);
      await page.waitForFunction(
        ([sel, old]) =>
          [...document.querySelectorAll(`${sel} .value`)].map((e) => e.textContent).join(' ') !== old,
        [concurrency, before] as const,
        { timeout: 5000 },
      );
      const updated = await page.textContent('#updated');
      await page.waitForFunction((old) => document.querySelector('#updated')?.textContent !== old, updated, {
        timeout: 2000,
      });

      // The feed shows decisions with their reasons.
      const feed = await page.locator('#feed li').allTextContents();
      assert.ok(
        feed.some((t) => /breaker payments.*closed → open: 2 failures in a row/.test(t)),
        feed.join('\n'),
      );
      await page.waitForFunction(
        () => /limiter api\s*limit \d+ → \d+/.test(document.body.textContent ?? ''),
        null,
        {
          timeout: 5000,
        },
      );

      await mkdir(new URL('.', `file://${screenshot}`), { recursive: true });
      await page.screenshot({ path: screenshot });
      assert.deepEqual(errors, [], 'console errors');
      assert.deepEqual(elsewhere, [], 'requests to anything but 127.0.0.1');
      assert.deepEqual(failed, [], 'failed requests');
    } finally {
      await browser.close();
      running = false;
      await Promise.all(callers);
      await dashboard.close();
    }
    process.stdout.write(`# screenshot: ${screenshot}\n`);
  });
});
