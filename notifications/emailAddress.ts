/**
 * An email address as Tollgate accepts one (a customer's billing email, alert recipients): valid,
 * and within RFC 5321's limits — at most 64 characters before the "@", 254 in all — so a mail
 * server never refuses it for its length after it was accepted.
 */
import { z } from 'zod';

export const emailAddress = z
  .email()
  .max(254, 'must be at most 254 characters')
  .refine((address) => address.lastIndexOf('@') <= 64, 'the part before "@" must be at most 64 characters');
