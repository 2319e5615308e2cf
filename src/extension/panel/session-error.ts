/** The error name shared by the panel's worker handlers and its host-side controller. */

/** Name of the error for a session the worker does not have, such as after a worker restart. */
export const sessionLostError = 'PanelSessionLost';
