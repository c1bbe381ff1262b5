import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` serves the page and passes /api to the service (`dotnet run --project src/Api`, port 5000 by default).
export default defineConfig({
  plugins: [react()],
  server: { proxy: { '/api': process.env.AGENTS_URL ?? 'http://localhost:5000' } },
});
