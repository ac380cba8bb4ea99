// cluster-key-slot ships no types: the one function Parley uses (ioredis' own slot function).
declare module 'cluster-key-slot' {
  /** The Redis Cluster hash slot (0–16383) of a key, hash tags honoured. */
  function calculateSlot(key: string): number;
  export = calculateSlot;
}
