/**
 * limiter returns a function that runs tasks at most n at a time, in the
 * order they were queued.
 */
export function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const queue: Array<() => void> = [];
  const next = () => {
    if (running >= n) return;
    const start = queue.shift();
    if (start) start();
  };
  return (task) =>
    new Promise((resolve, reject) => {
      queue.push(() => {
        running++;
        task().then(resolve, reject).finally(() => {
          running--;
          next();
        });
      });
      next();
    });
}
