// The example page (examples/react-chat: @ai-sdk/react's useChat({ resume: true }), built with Vite by the test
// command) in a real Chromium, against the real service and a scripted model.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { chromium } from 'playwright-core';
import { FakeOpenAI } from './support/fake-openai.mjs';
import { Service } from './support/service.mjs';
import { distDir, startPageServer } from './support/page-server.mjs';

const model = new FakeOpenAI();
let service;
let pages;
let browser;

before(async () => {
  assert.ok(existsSync(distDir), `build the page first: (cd examples/react-chat && npm ci && npm run build)`);
  service = await new Service(await model.start()).start();
  pages = await startPageServer(service.baseUrl);
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true });
});

after(async () => {
  await browser?.close();
  await pages?.close();
  await service?.stop();
  service?.dispose();
  await model.stop();
});

const assistantText = (page) => page.locator('[data-role="assistant"] .text');

test('a reload mid-answer continues the answer where it was', async () => {
  const marker = model.script([{ text: 'The answer ' }, { text: 'is ' }, { gate: 'page-reload' }, { text: 'forty-two.' }]);
  const page = await browser.newPage();
  await page.goto(`${pages.url}/?chat=page-${randomUUID()}`);
  await page.fill('input[name=message]', `Tell me ${marker}`);
  await page.click('button[type=submit]');
  await assistantText(page).filter({ hasText: 'The answer is' }).waitFor();

  await page.reload();
  await assistantText(page).filter({ hasText: 'The answer is' }).waitFor();
  await page.locator('main[data-status="streaming"]').waitFor();
  model.gate('page-reload').open();

  await assistantText(page).filter({ hasText: 'forty-two.' }).waitFor();
  assert.deepEqual(await assistantText(page).allTextContents(), ['The answer is forty-two.']);
  assert.equal(await page.locator('[data-role="user"]').count(), 1);
  await page.close();
});

test('a reservation is approved from the page', async () => {
  const marker = model.script(
    [{ tool: { id: 'call_page_book', name: 'make_reservation', arguments: { restaurant: 'Luigi', time: '19:30', people: 2 } } }],
    [{ text: 'Your table is booked.' }],
  );
  const page = await browser.newPage();
  await page.goto(`${pages.url}/?chat=page-${randomUUID()}`);
  await page.fill('input[name=message]', `Book ${marker}`);
  await page.click('button[type=submit]');

  await page.locator('.approval', { hasText: 'Luigi' }).waitFor();
  await page.click('.approval button:text("Approve")');

  await assistantText(page).filter({ hasText: 'Your table is booked.' }).waitFor();
  await page.locator('.tool[data-state="output-available"]').waitFor();
  await page.close();
});
