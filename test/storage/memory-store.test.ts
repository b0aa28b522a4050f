import { createMemoryStore } from "../../src/storage/memory-store.js";
import { describeStoreContract } from "./store-contract.js";

describeStoreContract("memory", async () => {
  const store = createMemoryStore();
  return { store, dispose: () => store.close() };
});
