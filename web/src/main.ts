// Entry point: mounts the app into #app.
import './zod-jitless.ts'; // first: before any schema is built
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';

mount(App, { target: document.getElementById('app')! });
