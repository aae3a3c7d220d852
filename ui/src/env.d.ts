// CSS imports are handled by esbuild.
declare module '*.css';
