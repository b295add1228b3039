/**
 * The whole forwarding suite again on the undici upstream client (https upstreams and Nodes where
 * the native engine's self-test fails use it), so both engines keep the same contract.
 */
process.env.GATEHOUSE_TEST_UPSTREAM_CLIENT = 'undici';
await import('./forwarding.test.js');
